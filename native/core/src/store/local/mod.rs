//! Local directories: the atomic file store, and the directory operations around it.

mod atomic;
mod dirs;

pub use atomic::{AtomicFilesystemStore, Mode};
pub use dirs::{dataset_dir, lock_dataset, publish_dir, sync_dir, DirLock};
