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
    /// `None` until created; then the file, or why it could not be.
    file: Mutex<Option<std::io::Result<File>>>,
    done: Condvar,
}

impl Slot {
    fn fill(&self, file: std::io::Result<File>) {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        self.done.notify_all();
    }

    fn wait(&self) -> std::sync::MutexGuard<'_, Option<std::io::Result<File>>> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        while file.is_none() {
            file = self.done.wait(file).unwrap_or_else(|e| e.into_inner());
        }
        file
    }
}

/// A temp file being created; [`Ahead::wait`] gives it.
#[derive(Debug, Clone)]
pub struct Ahead(Arc<Slot>);

impl Ahead {
    /// The created file, once it is there (taken: a second call gets an error).
    pub fn wait(&self) -> std::io::Result<File> {
        self.0
            .wait()
            .take()
            .unwrap_or_else(|| Err(std::io::Error::other("the temp file was taken already")))
    }

    /// Block until the thread has tried to create the file; whether it exists now.
    pub fn created(&self) -> bool {
        self.0.wait().as_ref().is_some_and(|f| f.is_ok())
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
