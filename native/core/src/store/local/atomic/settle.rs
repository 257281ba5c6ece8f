//! A small save's clean-up on its own thread, under its lock: the files its commit
//! displaced and the temp files it prepared and did not use are removed before the
//! lock goes, so the dataset directory is left with no temp entry (see
//! `store::local::clean`). Removing a few small files costs less than waking the
//! reaper; a large save still hands them over (freeing a large inode is slow).
//! And what such a clean directory spares the next save: checking again that the
//! directories in it are not links.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{lock, AtomicFilesystemStore, Mode, Published};

/// Saves that wrote up to this many bytes clean up on their own thread.
const SETTLE_BYTES: u64 = 4 << 20;

impl AtomicFilesystemStore {
    /// For a small committed save, remove now (in the order the store's drop would:
    /// displaced files first, unused temp files, the save's sign among them, last)
    /// what it left; whether it did. A larger one leaves them to the drop.
    pub fn settle_now(&self) -> bool {
        if self.mode != Mode::Atomic || self.staged_bytes.load(Ordering::Relaxed) > SETTLE_BYTES {
            return false;
        }
        let unused: Vec<PathBuf> = std::mem::take(&mut *lock(&self.ahead))
            .into_values()
            .filter_map(|(temp, file)| file.wait().is_ok().then_some(temp))
            .collect();
        self.discard();
        let displaced = std::mem::take(&mut *lock(&self.published))
            .into_iter()
            .filter_map(|done| match done {
                Published::Exchanged { displaced, .. } => Some(displaced),
                Published::Erased { doomed, .. } => Some(doomed),
                Published::Created { .. } | Published::Nothing => None,
            });
        let mut all_gone = true;
        for path in displaced.chain(unused) {
            all_gone &= match std::fs::remove_file(&path) {
                Err(e) => e.kind() == std::io::ErrorKind::NotFound,
                Ok(()) => true,
            };
        }
        all_gone
    }
}

impl AtomicFilesystemStore {
    /// Count `dirs` (below the root) as checked not to be links: the dataset's own
    /// directories the lock just checked, and those found in a directory left clean.
    pub fn trust_dirs(&self, dirs: impl IntoIterator<Item = PathBuf>) {
        lock(&self.checked).extend(dirs);
    }

    /// The directories directly in `dir` that this store checked.
    pub fn checked_in(&self, dir: &Path) -> Vec<PathBuf> {
        lock(&self.checked)
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect()
    }
}
