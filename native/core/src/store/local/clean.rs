//! Dataset directories this process left clean: with no temp entry in them once its
//! save ended, under the lock. The next save of the dataset here needs no listing
//! to look for a crashed writer's sign (every save makes its first temp file in the
//! dataset directory) if the directory is the one left, unchanged.
//!
//! "Unchanged" is read off the directory's modification time, which every entry
//! made, renamed or removed in it sets to the current time. A time recorded as is
//! could come back: file-system clocks tick every few milliseconds, and another
//! writer taking the lock right after this one could make its sign, then die, within
//! the same tick. So the save that leaves the directory clean sets its modification
//! time itself, to one second before now: no later change can set it to that again
//! (short of the system clock stepping back exactly there), so finding it still
//! there means nobody made or removed an entry since. A directory whose time cannot
//! be set (not ours), or that the OS names no identity for (Windows, where the lock
//! is a lock file), is listed as before.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::platform::dir_identity;
use super::DirLock;

/// Directories remembered across all containers.
const MAX_ENTRIES: usize = 64;

struct Sealed {
    path: PathBuf,
    /// Device and inode.
    identity: (u64, u64),
    mtime: SystemTime,
    /// Directories in it that the save found not to be links.
    checked: Vec<PathBuf>,
}

static SEALED: Mutex<Vec<Sealed>> = Mutex::new(Vec::new());

fn sealed() -> std::sync::MutexGuard<'static, Vec<Sealed>> {
    SEALED.lock().unwrap_or_else(|e| e.into_inner())
}

/// If `dir`, locked and `seen` as it is now, is as a save of this process left it
/// clean (the same directory, no entry made or removed since), the directories in it
/// that save found not to be links: they are still the same entries.
pub fn unchanged(dir: &Path, seen: &std::fs::Metadata) -> Option<Vec<PathBuf>> {
    let now = (dir_identity(seen)?, seen.modified().ok()?);
    sealed()
        .iter()
        .find(|s| s.path == dir && (s.identity, s.mtime) == now)
        .map(|s| s.checked.clone())
}

/// Forget `dir`: its next save lists it.
pub fn forget(dir: &Path) {
    sealed().retain(|s| s.path != dir);
}

/// Remember `dir`, still locked by `lock` and holding no temp entry, with the
/// directories in it found not to be links (`checked`): set its modification time
/// to one no later change gives it.
pub fn seal(dir: &Path, lock: &DirLock, checked: Vec<PathBuf>) {
    forget(dir);
    let Some(at) = SystemTime::now().checked_sub(Duration::from_secs(1)) else {
        return;
    };
    let Some(identity) = dir_identity(&lock.seen) else {
        return;
    };
    if lock.set_modified(at).is_err() {
        return;
    }
    let mut sealed = sealed();
    if sealed.len() >= MAX_ENTRIES {
        sealed.remove(0);
    }
    sealed.push(Sealed {
        path: dir.to_path_buf(),
        identity,
        mtime: at,
        checked,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::{lock_dataset, Link};

    fn relock(dir: &Path) -> DirLock {
        lock_dataset(dir, false, Link::Refuse).unwrap().unwrap()
    }

    #[test]
    fn a_sealed_directory_is_unchanged_until_an_entry_comes_or_goes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::create_dir(dir.join("c")).unwrap();
        let lock = relock(&dir);
        assert!(unchanged(&dir, &lock.seen).is_none());
        seal(&dir, &lock, vec![dir.join("c")]);
        drop(lock);
        let lock = relock(&dir);
        if dir_identity(&lock.seen).is_none() {
            // Where the OS names no directory identity (Windows), nothing is sealed:
            // every save lists the directory.
            assert!(unchanged(&dir, &lock.seen).is_none());
            return;
        }
        assert_eq!(unchanged(&dir, &lock.seen), Some(vec![dir.join("c")]));
        drop(lock);
        // A writer's sign, made right after (within the same clock tick, likely).
        std::fs::write(dir.join(".zarr-saver-tmp-zarr.json.1-0.1"), b"").unwrap();
        let lock = relock(&dir);
        assert!(unchanged(&dir, &lock.seen).is_none());
        // Sealed again, then an entry removed.
        seal(&dir, &lock, Vec::new());
        drop(lock);
        std::fs::remove_file(dir.join(".zarr-saver-tmp-zarr.json.1-0.1")).unwrap();
        let lock = relock(&dir);
        assert!(unchanged(&dir, &lock.seen).is_none());
        // Another directory in its place.
        seal(&dir, &lock, Vec::new());
        drop(lock);
        std::fs::rename(&dir, root.path().join("old")).unwrap();
        std::fs::create_dir(&dir).unwrap();
        let lock = relock(&dir);
        assert!(unchanged(&dir, &lock.seen).is_none());
    }
}
