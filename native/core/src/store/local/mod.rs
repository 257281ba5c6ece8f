//! Local directories: the atomic file store, the directory operations around it,
//! temp names and the debris of crashed writers, and the local [`CommitBackend`].
//!
//! [`CommitBackend`]: crate::store::CommitBackend

mod atomic;
mod backend;
mod clean;
mod dirs;
pub(crate) mod doc_cache;
pub(crate) mod opener;
pub mod reaper;
pub(crate) mod temp;
mod walk;

pub use atomic::{AtomicFilesystemStore, Mode};
pub use backend::{open, LocalBackend};
pub use dirs::{dataset_dir, lock_dataset, publish_dir, sync_dir, DirLock};

/// A file's identity and version: device, inode, size, modification and change
/// times. A file renamed into place, or written again, gets another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The stamp of the file at `path` (not following a link), if there is one.
pub fn file_stamp(path: &std::path::Path) -> Option<super::ChunkStamp> {
    FileStamp::at(path).map(super::ChunkStamp::File)
}

impl FileStamp {
    /// The stamp of the file at `path` (not following a link), if there is one.
    pub(crate) fn at(path: &std::path::Path) -> Option<Self> {
        std::fs::symlink_metadata(path).ok().map(|m| Self::of(&m))
    }

    /// The stamp in `m`.
    pub(crate) fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}
