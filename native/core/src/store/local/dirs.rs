//! Directory operations of the local store: the writer lock of a dataset, and the
//! atomic publication of a whole new array. What they need from the OS (locks,
//! exchange, rename without replacing, directory sync) is in `platform`.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Result, SaveError};

use super::platform::{self, Link, LockKind};
use super::temp::{temp_beside, temp_name};

fn io_error(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> SaveError {
    move |e| SaveError::store(context, e)
}

/// Refuse symbolic links on the way from `root` to `root/dataset`, so a dataset
/// never resolves outside `filePath`.
pub fn dataset_dir(root: &Path, dataset: &str) -> Result<PathBuf> {
    check_links(root, dataset, usize::MAX)
}

/// [`dataset_dir`] short of the dataset's own directory, for a lock that refuses a
/// link there ([`Link::Refuse`]); should that lock fail, `dataset_dir` names the link.
pub fn dataset_dir_above(root: &Path, dataset: &str) -> Result<PathBuf> {
    check_links(root, dataset, dataset.split('/').count() - 1)
}

/// Check the first `segments` directories on the way from `root` to `root/dataset`.
fn check_links(root: &Path, dataset: &str, segments: usize) -> Result<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in dataset.split('/').take(segments) {
        path.push(segment);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(SaveError::InvalidArgument(format!(
                    "datasetName '{dataset}': '{}' is a symbolic link; zarr-saver does not follow links inside filePath",
                    path.display()
                )))
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(root.join(dataset))
}

/// An exclusive, cross-process lock on one dataset or group (see
/// `platform::lock_dir`), released when dropped.
#[derive(Debug)]
pub struct DirLock {
    lock: platform::Lock,
    /// Where a new dataset gets published: the highest directory on the way to it
    /// that does not exist yet. `None` when the dataset directory exists.
    pub missing_top: Option<PathBuf>,
    /// The locked directory as it was once the lock was taken.
    pub seen: std::fs::Metadata,
}

impl DirLock {
    /// Set the locked directory's modification time to `at` (see `clean.rs`), where
    /// the lock is on the directory itself.
    pub fn set_modified(&self, at: std::time::SystemTime) -> std::io::Result<()> {
        self.lock.set_dir_modified(at)
    }
}

/// Lock `dir` and return the lock with `dir`'s metadata if `still` holds once it is
/// taken (and `dir` is still the directory that was locked: an overwrite may have
/// swapped it meanwhile).
fn lock_if(
    dir: &Path,
    kind: LockKind,
    still: impl Fn() -> bool,
) -> Result<Option<(platform::Lock, std::fs::Metadata)>> {
    let lock = platform::lock_dir(dir, kind, Link::Follow)
        .map_err(io_error(format!("locking {}", dir.display())))?;
    Ok(lock
        .still_at(dir)
        .filter(|_| still())
        .map(|seen| (lock, seen)))
}

/// Lock the dataset (array) at `dir` against writers in this and other processes.
/// An existing dataset is locked as itself. A missing one (with `create`) through the
/// nearest directory above it that exists, which stays the nearest while the lock is
/// held: the new dataset appears there in one rename. With `create` false, a missing
/// dataset is `None`. Nothing is made on Unix; on Windows a lock file may be. `link`
/// applies to `dir` itself (the nearest directory above is followed).
pub fn lock_dataset(dir: &Path, create: bool, link: Link) -> Result<Option<DirLock>> {
    lock_node(dir, create, LockKind::Node, link)
}

/// [`lock_dataset`] for a group: the same rules, with the group locked as a container.
pub fn lock_group(dir: &Path, create: bool, link: Link) -> Result<Option<DirLock>> {
    lock_node(dir, create, LockKind::Container, link)
}

fn lock_node(dir: &Path, create: bool, kind: LockKind, link: Link) -> Result<Option<DirLock>> {
    loop {
        match platform::lock_dir(dir, kind, link) {
            Ok(lock) => {
                if let Some(seen) = lock.still_at(dir) {
                    return Ok(Some(DirLock {
                        lock,
                        missing_top: None,
                        seen,
                    }));
                }
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory && !create => return Ok(None),
            Err(e) => return Err(SaveError::store(format!("opening {}", dir.display()), e)),
        }
        if !create {
            return Ok(None);
        }
        let top = highest_missing(dir);
        let parent = top.parent().unwrap_or(Path::new("/")).to_path_buf();
        let still_missing = || std::fs::symlink_metadata(&top).is_err();
        if let Some((lock, seen)) = lock_if(&parent, LockKind::Container, still_missing)? {
            return Ok(Some(DirLock {
                lock,
                missing_top: Some(top),
                seen,
            }));
        }
    }
}

/// The highest directory on the way to `dir` that does not exist (`dir` itself if
/// its parent exists).
fn highest_missing(dir: &Path) -> PathBuf {
    let mut top = dir.to_path_buf();
    while let Some(parent) = top.parent() {
        if parent.as_os_str().is_empty() || std::fs::symlink_metadata(parent).is_ok() {
            break;
        }
        top = parent.to_path_buf();
    }
    top
}

/// Sync a directory, so the entries renamed or made in it survive a power cut (a
/// no-op where the OS has no directory sync: Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    platform::sync_dir(dir)
}

/// Sync every directory of the tree at `root`, deepest first (the files in it were
/// synced as they were written).
fn sync_tree(root: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(root)
}

/// Publish a new tree: `fill` writes it into a fresh staging directory beside
/// `target`, which then takes `target`'s place in one step. An existing `target`
/// (an old array) is exchanged with it and removed; a missing one is renamed into
/// place without ever replacing what another process put there. Readers see the
/// old tree or the new one; a crash leaves only a staging directory, removed by the
/// next writer. `fill` gets the staging directory. Returns the old tree when it could
/// not be removed yet (Windows removes no directory while a file inside is still
/// open, as the save's own prepared temp files may be): the caller removes it once
/// the save's files are closed.
pub fn publish_dir(
    target: &Path,
    durable: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<Option<PathBuf>> {
    let parent = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    let staging = temp_beside(target);
    std::fs::create_dir(&staging).map_err(io_error(format!("creating {}", staging.display())))?;
    let filled = fill(&staging).and_then(|()| {
        if durable {
            sync_tree(&staging).map_err(io_error(format!("syncing {}", staging.display())))?;
        }
        Ok(())
    });
    if let Err(e) = filled {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let exists = std::fs::symlink_metadata(target).is_ok();
    // The old tree waits beside the new one until it is removed: should this process
    // die meanwhile, this marker in the new tree tells the next writer to look there.
    let marker = exists.then(|| temp_name("swapped"));
    if let Some(m) = &marker {
        if let Err(e) = File::create(staging.join(m)) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(SaveError::store(
                format!("creating {}", staging.display()),
                e,
            ));
        }
    }
    let swapped = if exists {
        platform::exchange(&staging, target).or_else(|_| swap_by_renames(&staging, target))
    } else {
        platform::rename_noreplace(&staging, target)
    };
    if let Err(e) = swapped {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(SaveError::store(
            format!("publishing the new {}", target.display()),
            e,
        ));
    }
    if durable {
        sync_dir(&parent).map_err(io_error(format!("syncing {}", parent.display())))?;
    }
    // After an exchange, `staging` holds the old tree.
    let left = (std::fs::remove_dir_all(&staging).is_err() && staging.exists()).then_some(staging);
    if let Some(m) = marker {
        let _ = std::fs::remove_file(target.join(m));
    }
    Ok(left)
}

/// Where no exchange exists (other OS, old kernel, exotic file system): the old
/// tree steps aside under a temp name, the new one takes its place, and the old one
/// ends at `staging` for the caller to remove. Should the second rename fail, the old
/// tree goes back. Should the process die between the two, the next writer finds the
/// dataset missing and a gone writer's `<temp>.old` beside it, and renames it back
/// (`temp::restore_beside`).
fn swap_by_renames(staging: &Path, target: &Path) -> std::io::Result<()> {
    let old = old_beside(target);
    platform::rename(target, &old)?;
    if let Err(e) = platform::rename(staging, target) {
        let _ = platform::rename(&old, target);
        return Err(e);
    }
    // The new tree is in place: the old one goes, under whichever name it has.
    if platform::rename(&old, staging).is_err() {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// The temp name an old tree waits under while a new one takes its place.
fn old_beside(target: &Path) -> PathBuf {
    let mut name = temp_beside(target).into_os_string();
    name.push(".old");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exchange_two_renames_swap_a_tree_in() {
        let dir = tempfile::tempdir().unwrap();
        let (staging, target) = (dir.path().join("staging"), dir.path().join("ds"));
        std::fs::create_dir(&staging).unwrap();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(staging.join("zarr.json"), b"new").unwrap();
        std::fs::write(target.join("zarr.json"), b"old").unwrap();
        swap_by_renames(&staging, &target).unwrap();
        assert_eq!(std::fs::read(target.join("zarr.json")).unwrap(), b"new");
        assert_eq!(std::fs::read(staging.join("zarr.json")).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
