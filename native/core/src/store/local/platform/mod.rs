//! The local store's operating-system seam: everything the store does differently on
//! Unix and on Windows sits behind these few functions, one module per OS (`unix.rs`,
//! `windows.rs`).
//!
//! - [`lock_dir`]: an exclusive lock on a dataset or group directory, held until the
//!   [`Lock`] drops; with [`Link::Refuse`], never through a symbolic link. Unix
//!   `flock`s the directory itself: no file is made, and the lock follows the
//!   directory should an overwrite swap it ([`Lock::still_at`] tells).
//!   Windows cannot lock a directory, and its locks are mandatory, so it locks a lock
//!   file that no reader ever opens (see [`LockKind`] for where it lives).
//! - [`rename_noreplace`], [`exchange`]: the two publishing renames. Only Linux
//!   exchanges in one step; elsewhere the callers fall back to renames they can undo.
//! - [`process_gone`], [`process_start`]: whether the writer that left a temp name
//!   still runs, and what tells a reused pid from it.
//! - [`file_stamp`], [`open_file_stamp`]: a file's identity and version (the tail
//!   cache, the metadata cache); [`dir_identity`]: a directory's, where std tells it.
//! - [`sync_dir`]: a directory sync (`durable`); Windows has none to offer.
//! - [`wait_at_exit`]: run a wait when the process exits, where that is safe.
//! - [`retry_busy`]: ride out another process holding a file open (Windows sharing
//!   violations), a bounded number of times.

use std::path::Path;
use std::time::Duration;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod imp;

pub use imp::{
    dir_identity, exchange, file_stamp, lock_dir, open_file_stamp, process_gone, process_start,
    rename_noreplace, sync_dir, wait_at_exit, Lock,
};

/// What a directory is locked as; it decides where a lock file goes where the OS needs
/// one (Windows). Every writer locks one directory as one kind, so they meet on one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// An array (or an Icechunk repository): a directory an overwrite may swap whole,
    /// so its lock file sits beside it, `<parent>/.zarr-saver-lock.<name>` (Windows
    /// renames no directory that has a file open inside).
    Node,
    /// A group, or the directory a new node is published into: never swapped, its lock
    /// file sits inside, `<dir>/.zarr-saver-lock`.
    Container,
}

/// Whether `lock_dir` may lock a directory through a symbolic link at its path:
/// `filePath` may be one, nothing inside it may (a refused link fails the lock, and
/// the caller names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Follow,
    Refuse,
}

/// Lock files start with this; listings skip them as they skip temp names.
pub const LOCK_PREFIX: &str = ".zarr-saver-lock";

/// A file's identity and version: device, file id, size, modification and change
/// times. A file renamed into place, or written again, gets another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How often an operation on a file another process holds open is tried again, and
/// the longest pause between two tries (the pauses double from 1 ms: about 2 s in all).
const BUSY_RETRIES: u32 = 20;
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(200);

/// Run `op` on `path`, again while it fails because another process holds the file
/// (only Windows says so: a reader's handle without delete sharing), at most
/// [`BUSY_RETRIES`] times. When the file stays held, the error names it.
pub fn retry_busy<T>(
    path: &Path,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut pause = Duration::from_millis(1);
    for _ in 0..BUSY_RETRIES {
        match op() {
            Err(e) if imp::is_busy(&e) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(BUSY_PAUSE_MAX);
            }
            done => return done,
        }
    }
    op().map_err(|e| {
        if imp::is_busy(&e) {
            std::io::Error::new(
                e.kind(),
                format!("{} is held open by another process ({e})", path.display()),
            )
        } else {
            e
        }
    })
}

/// `std::fs::rename`, riding out a reader that holds `from` or `to` open.
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    retry_busy(to, || std::fs::rename(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_excludes_a_second_one_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a");
        std::fs::create_dir(&data).unwrap();
        let held = lock_dir(&data, LockKind::Node, Link::Refuse).unwrap();
        assert!(held.still_at(&data).is_some());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let data = data.clone();
            std::thread::spawn(move || {
                let lock = lock_dir(&data, LockKind::Node, Link::Refuse).unwrap();
                tx.send(()).unwrap();
                drop(lock);
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(held);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
    }

    #[test]
    fn a_missing_directory_is_not_found_and_a_file_is_no_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = lock_dir(&dir.path().join("nope"), LockKind::Node, Link::Refuse).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let file = lock_dir(&dir.path().join("f"), LockKind::Container, Link::Follow).unwrap_err();
        assert_eq!(file.kind(), std::io::ErrorKind::NotADirectory);
    }

    #[cfg(unix)]
    #[test]
    fn a_refused_link_is_never_locked_and_a_followed_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let (real, link) = (dir.path().join("real"), dir.path().join("link"));
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(lock_dir(&link, LockKind::Node, Link::Refuse).is_err());
        let held = lock_dir(&link, LockKind::Node, Link::Follow).unwrap();
        assert!(held.still_at(&link).is_some());
        drop(held);
        // A directory locked as itself stops being "still there" once a link to it
        // takes its path.
        let held = lock_dir(&real, LockKind::Node, Link::Refuse).unwrap();
        let moved = dir.path().join("moved");
        std::fs::rename(&real, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &real).unwrap();
        assert!(held.still_at(&real).is_none());
    }

    #[test]
    fn rename_noreplace_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        std::fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
    }

    #[test]
    fn this_process_runs_and_its_start_is_stable() {
        assert!(!process_gone(std::process::id(), process_start()));
        assert_eq!(process_start(), process_start());
        // Where the start time is kept, another start under this pid is another process.
        if let Some(start) = process_start() {
            assert!(process_gone(std::process::id(), Some(start + 1)));
        }
    }

    #[test]
    fn a_rewritten_file_gets_another_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c");
        std::fs::write(&f, b"one").unwrap();
        let first = file_stamp(&f).unwrap();
        assert_eq!(file_stamp(&f), Some(first));
        let temp = dir.path().join("t");
        std::fs::write(&temp, b"two!").unwrap();
        std::fs::rename(&temp, &f).unwrap();
        assert_ne!(file_stamp(&f), Some(first));
        assert_eq!(file_stamp(&dir.path().join("missing")), None);
    }
}
