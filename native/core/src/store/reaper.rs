//! Background file housekeeping for local stores, on one thread: files a commit
//! displaced are removed, and each dataset's pool of fresh temp files is kept stocked.
//!
//! Both move filesystem work that costs as much as writing a chunk off the saving
//! thread. Freeing an inode means a truncate and, on `discard` mounts, a synchronous
//! trim. Allocating one on ext4 without a journal means scanning past every inode freed
//! in the last 30 s (`recently_deleted`), a quarter of a small append in perf. A
//! displaced file is already out of readers' sight (it sits under a temp name), and a
//! fresh file is empty and hidden, so nothing waits for either.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::TEMP_PREFIX;

/// Fresh files kept ready per pool, at most.
const MAX_STOCK: usize = 256;
/// Pause between batches, so that a burst of saves wakes the thread once, not per file.
const BATCH_PAUSE: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Pool {
    ready: Vec<PathBuf>,
    wanted: usize,
}

#[derive(Default)]
struct State {
    doomed: Vec<PathBuf>,
    pools: HashMap<PathBuf, Pool>,
    /// The thread is parked waiting for work (and must be woken).
    idle: bool,
    /// Files the thread has taken and not yet dealt with.
    in_hand: usize,
}

impl State {
    fn to_create(&self) -> Vec<(PathBuf, usize)> {
        self.pools
            .iter()
            .filter(|(_, p)| p.ready.len() < p.wanted)
            .map(|(dir, p)| (dir.clone(), p.wanted - p.ready.len()))
            .collect()
    }

    fn has_work(&self) -> bool {
        !self.doomed.is_empty() || self.pools.values().any(|p| p.ready.len() < p.wanted)
    }
}

struct Reaper {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

impl Reaper {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, state: &mut State) {
        if state.idle {
            state.idle = false;
            self.work.notify_one();
        }
    }

    fn run(&self) {
        loop {
            let (doomed, create) = {
                let mut st = self.lock();
                while !st.has_work() {
                    st.idle = true;
                    self.done.notify_all();
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                st.idle = false;
                let doomed = std::mem::take(&mut st.doomed);
                let create = st.to_create();
                st.in_hand = doomed.len() + create.iter().map(|(_, n)| n).sum::<usize>();
                (doomed, create)
            };
            for path in &doomed {
                let _ = std::fs::remove_file(path);
            }
            let made: Vec<(PathBuf, Vec<PathBuf>)> = create
                .into_iter()
                .map(|(dir, n)| {
                    let files = (0..n).map_while(|_| create_fresh(&dir)).collect();
                    (dir, files)
                })
                .collect();
            {
                let mut st = self.lock();
                for (dir, files) in made {
                    let pool = st.pools.entry(dir).or_default();
                    if files.is_empty() {
                        // The pool directory is gone (an overwrite swapped the dataset).
                        pool.wanted = 0;
                    }
                    pool.ready.extend(files);
                }
                st.in_hand = 0;
                self.done.notify_all();
            }
            std::thread::sleep(BATCH_PAUSE);
        }
    }
}

/// An empty file with a fresh inode in `dir`, which must exist: the thread never
/// creates a pool directory, so it cannot plant one in a dataset that replaced the
/// one it was asked for.
fn create_fresh(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(format!(
        "{TEMP_PREFIX}{}.{}",
        std::process::id(),
        super::local::unique_suffix()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()
        .map(|_| path)
}

fn reaper() -> Option<&'static Reaper> {
    static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("zarr-saver-files".into())
                .spawn(|| {
                    if let Some(r) = reaper() {
                        r.run();
                    }
                })
                .ok()?;
            Some(Reaper {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                done: Condvar::new(),
            })
        })
        .as_ref()
}

/// Remove the file `path` soon, off the caller's thread (inline if no thread could
/// start). `path` must already be out of readers' sight.
pub fn remove_later(path: PathBuf) {
    match reaper() {
        Some(r) => {
            let mut st = r.lock();
            st.doomed.push(path);
            r.wake(&mut st);
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A fresh, empty temp file from the pool in `dir`, if one is ready.
pub fn take_fresh(dir: &Path) -> Option<PathBuf> {
    reaper()?.lock().pools.get_mut(dir)?.ready.pop()
}

/// Keep `n` fresh files ready in the pool directory `dir` (which the caller created).
pub fn stock(dir: &Path, n: usize) {
    if let Some(r) = reaper() {
        let mut st = r.lock();
        let pool = st.pools.entry(dir.to_path_buf()).or_default();
        pool.wanted = pool.wanted.max(n).min(MAX_STOCK);
        if pool.ready.len() < pool.wanted {
            r.wake(&mut st);
        }
    }
}

/// Drop the pool in `dir` from memory (its files go with the directory).
pub fn forget(dir: &Path) {
    if let Some(r) = reaper() {
        r.lock().pools.remove(dir);
    }
}

/// Finish all queued removals, then delete every unused fresh file and the pool
/// directories left empty. Call before the process exits, or hidden temp files stay.
pub fn wait_idle() {
    let Some(r) = reaper() else { return };
    let mut st = r.lock();
    for pool in st.pools.values_mut() {
        pool.wanted = 0;
    }
    while !st.doomed.is_empty() || st.in_hand > 0 {
        r.wake(&mut st);
        st = r.done.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    for (dir, pool) in st.pools.drain() {
        for file in pool.ready {
            let _ = std::fs::remove_file(file);
        }
        // Fails while another process still keeps files there: it removes it last.
        let _ = std::fs::remove_dir(dir);
    }
}
