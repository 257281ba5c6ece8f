//! Files a commit displaces are removed on a background thread. Freeing an inode
//! is not cheap: ext4 truncates it and, on a `discard` mount, waits for the device
//! to trim its blocks, which costs about as much as writing the chunk that replaced
//! it. A displaced file is already invisible to readers (it sits under a temp name),
//! so nothing waits for it to go.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Condvar, Mutex, OnceLock};

struct Reaper {
    queue: Mutex<Sender<PathBuf>>,
    /// Files queued and not yet unlinked.
    pending: Mutex<usize>,
    idle: Condvar,
}

fn reaper() -> Option<&'static Reaper> {
    static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (tx, rx) = channel::<PathBuf>();
            std::thread::Builder::new()
                .name("zarr-saver-reaper".into())
                .spawn(move || {
                    for path in rx {
                        remove(&path);
                        if let Some(r) = reaper() {
                            let mut n = r.pending.lock().unwrap_or_else(|e| e.into_inner());
                            *n -= 1;
                            if *n == 0 {
                                r.idle.notify_all();
                            }
                        }
                    }
                })
                .ok()?;
            Some(Reaper {
                queue: Mutex::new(tx),
                pending: Mutex::new(0),
                idle: Condvar::new(),
            })
        })
        .as_ref()
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Remove the file `path` soon, off the caller's thread (inline if no thread could
/// start). `path` must already be out of readers' sight.
pub fn remove_later(path: PathBuf) {
    let Some(r) = reaper() else {
        remove(&path);
        return;
    };
    *r.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let queue = r.queue.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(unsent) = queue.send(path) {
        remove(&unsent.0);
        *r.pending.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

/// Block until everything queued so far is removed. Call before the process exits,
/// or the last displaced files stay behind under hidden temp names.
pub fn wait_idle() {
    if let Some(r) = reaper() {
        let mut n = r.pending.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = r.idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}
