//! Files a commit displaces are removed on a background thread. Freeing an inode
//! is not cheap: ext4 truncates it and, on a `discard` mount, waits for the device
//! to trim its blocks, which costs about as much as writing the chunk that replaced
//! it. A displaced file is already invisible to readers (it sits under a temp name),
//! so nothing waits for it to go.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Condvar, Mutex, OnceLock};

struct Reaper {
    queue: Mutex<Sender<Vec<PathBuf>>>,
    /// Batches queued and not yet unlinked.
    pending: Mutex<usize>,
    idle: Condvar,
}

fn reaper() -> Option<&'static Reaper> {
    static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (tx, rx) = channel::<Vec<PathBuf>>();
            std::thread::Builder::new()
                .name("zarr-saver-reaper".into())
                .spawn(move || {
                    for paths in rx {
                        remove_in_order(&paths);
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
            // `process.exit()` skips Node's environment cleanup: wait in `exit` itself
            // (where the OS lets a thread run then: not on Windows).
            super::platform::wait_at_exit(wait_idle_at_exit);
            Some(Reaper {
                queue: Mutex::new(tx),
                pending: Mutex::new(0),
                idle: Condvar::new(),
            })
        })
        .as_ref()
}

extern "C" fn wait_idle_at_exit() {
    wait_idle();
}

/// Remove `path` (a file, or a whole directory); whether it is gone. Another process
/// holding the file open (Windows) is waited for a little.
fn remove(path: &Path) -> bool {
    let removed = super::platform::retry_busy(path, || std::fs::remove_file(path));
    if removed.is_err() && path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    }
    // Only a name that is no more counts: a file Windows still shows (its deletion
    // pending on another process's handle, or refused) is not gone.
    matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// Remove `paths` in their order, stopping at the first that stays: a save lists its
/// sign in the dataset directory last, and the sign must outlive the rest, so that the
/// next writer (once this process is gone) finds and removes what stayed.
fn remove_in_order(paths: &[PathBuf]) {
    for path in paths {
        if !remove(path) {
            break;
        }
    }
}

/// Remove the files (or whole directories) `paths` soon, off the caller's thread (inline if no thread could
/// start). They must already be out of readers' sight. One call wakes the thread
/// once, so a save hands over all it displaced together.
pub fn remove_later(paths: Vec<PathBuf>) {
    if paths.is_empty() {
        return;
    }
    let Some(r) = reaper() else {
        remove_in_order(&paths);
        return;
    };
    *r.pending.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let queue = r.queue.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(unsent) = queue.send(paths) {
        remove_in_order(&unsent.0);
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
