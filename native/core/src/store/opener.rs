//! Temp files a save is about to fill, created on a background thread while the save
//! encodes. Creating a file allocates an inode, and on ext4 without a journal that
//! means stepping over every inode freed in the last 60 s (360 s while its inode table
//! block is dirty): under a stream of appends (each displacing two files) it costs as
//! much as encoding the chunk. Only files the running save will consume or remove are
//! created, so none outlives the save.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

type Job = Vec<(PathBuf, Sender<std::io::Result<File>>)>;

/// A temp file being created; [`Ahead::wait`] gives it.
#[derive(Debug)]
pub struct Ahead(Receiver<std::io::Result<File>>);

impl Ahead {
    /// The created file, once it is there.
    pub fn wait(self) -> std::io::Result<File> {
        self.0
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the temp-file thread stopped")))
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
                        for (path, reply) in job {
                            let _ = reply.send(create_new(&path));
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
            let (reply, rx) = channel();
            ((path, reply), Ahead(rx))
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
    for (path, reply) in unsent.into_iter().flatten() {
        let _ = reply.send(create_new(&path));
    }
    files
}
