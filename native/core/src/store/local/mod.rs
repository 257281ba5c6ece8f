//! Local directories: the atomic file store, the directory operations around it,
//! temp names and the debris of crashed writers, and the local [`CommitBackend`].
//! What differs between operating systems is in `platform`, one module per OS.
//!
//! [`CommitBackend`]: crate::store::CommitBackend

mod atomic;
mod backend;
mod clean;
mod dirs;
pub(crate) mod doc_cache;
pub(crate) mod opener;
mod platform;
pub mod reaper;
pub(crate) mod temp;
mod walk;

pub use atomic::{AtomicFilesystemStore, Mode};
pub use backend::{open, LocalBackend};
pub use dirs::{
    dataset_dir, dataset_dir_above, lock_dataset, lock_group, publish_dir, sync_dir, DirLock,
};
pub(crate) use platform::process_start;
pub use platform::{FileStamp, Link, LOCK_PREFIX};

/// The stamp of the file at `path` (not following a link), if there is one.
pub fn file_stamp(path: &std::path::Path) -> Option<super::ChunkStamp> {
    platform::file_stamp(path).map(super::ChunkStamp::File)
}
