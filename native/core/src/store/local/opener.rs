//! Temp files a save is about to fill, created on a background thread while the save
//! encodes. Creating a file allocates an inode, and on ext4 without a journal that
//! means stepping over every inode freed in the last 60 s (360 s while its inode table
//! block is dirty): under a stream of appends (each displacing two files) it costs as
//! much as encoding the chunk. Only files the running save will consume or remove are
//! created, so none outlives the save.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type Job = Vec<(PathBuf, Arc<Slot>)>;

/// Where the temp-file thread leaves one created file.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Pending,
    Ready(std::io::Result<File>),
    /// Created and handed out.
    Taken,
    /// The thread could not create it.
    Failed,
}

impl Slot {
    fn fill(&self, file: std::io::Result<File>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Ready(file);
        self.done.notify_all();
    }

    fn settled(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while matches!(*state, State::Pending) {
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state
    }
}

/// A temp file being created; [`Ahead::wait`] gives it.
#[derive(Debug, Clone)]
pub struct Ahead(Arc<Slot>);

impl Ahead {
    /// The created file, once it is there (a second call gets an error).
    pub fn wait(&self) -> std::io::Result<File> {
        let mut state = self.0.settled();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Ready(Ok(file)) => Ok(file),
            State::Ready(Err(e)) => {
                *state = State::Failed;
                Err(e)
            }
            other => {
                *state = other;
                Err(std::io::Error::other("the temp file was taken already"))
            }
        }
    }

    /// Block until the thread has tried to create the file; whether it did.
    pub fn created(&self) -> bool {
        matches!(*self.0.settled(), State::Ready(Ok(_)) | State::Taken)
    }
}

/// A new, empty file for writing; never an existing one.
pub fn create_new(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("zarr-saver-opener".into())
                .spawn(move || {
                    for job in rx {
                        for (path, slot) in job {
                            slot.fill(create_new(&path));
                        }
                    }
                })
                .ok()?;
            Some(Mutex::new(tx))
        })
        .as_ref()
}

/// Start creating `paths`, in order, off the caller's thread (on it, if no thread
/// could start). One call wakes the thread once.
pub fn create_soon(paths: Vec<PathBuf>) -> Vec<Ahead> {
    if paths.is_empty() {
        return Vec::new();
    }
    let (job, files): (Job, Vec<Ahead>) = paths
        .into_iter()
        .map(|path| {
            let slot = Arc::new(Slot::default());
            ((path, slot.clone()), Ahead(slot))
        })
        .unzip();
    let unsent = match queue() {
        Some(q) => q
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .err()
            .map(|e| e.0),
        None => Some(job),
    };
    for (path, slot) in unsent.into_iter().flatten() {
        slot.fill(create_new(&path));
    }
    files
}

/// [`create_soon`] on the caller's thread, for a save too small to gain from
/// handing the work over: `paths` are created, in order, before this returns.
pub fn create_now(paths: Vec<PathBuf>) -> Vec<Ahead> {
    paths
        .into_iter()
        .map(|path| {
            // Filled before anyone can wait on it: no wake-up to send.
            let slot = Slot {
                state: Mutex::new(State::Ready(create_new(&path))),
                done: Condvar::new(),
            };
            Ahead(Arc::new(slot))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::create_soon;

    #[test]
    fn a_taken_file_still_counts_as_created() {
        let dir = tempfile::tempdir().unwrap();
        let ahead = create_soon(vec![dir.path().join("f")]).remove(0);
        let intent = ahead.clone();
        assert!(ahead.wait().is_ok());
        // Another thread that only waits for it to exist must not block now.
        assert!(intent.created());
        assert!(ahead.wait().is_err());
    }
}
