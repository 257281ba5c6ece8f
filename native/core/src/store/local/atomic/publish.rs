//! How one file is published and taken back: a new file moved over its target (an
//! exchange where the kernel has one, renames that keep the old file otherwise), an
//! erase that moves the target out of sight, and the restore a rollback runs.

use std::path::{Path, PathBuf};

use super::super::platform::{self, exchange};
use super::super::temp::temp_beside;

/// What publishing one file did, for a rollback or the removals after a commit.
#[derive(Debug)]
pub(super) enum Published {
    /// `target` holds the new file; the old one sits at `displaced`.
    Exchanged { target: PathBuf, displaced: PathBuf },
    /// `target` is new.
    Created { target: PathBuf },
    /// `target` was moved out of sight to `doomed`.
    Erased { target: PathBuf, doomed: PathBuf },
    /// An erase of a key that was not there.
    Nothing,
}

/// Move `temp` over `target` atomically. Where the kernel can, the two are exchanged
/// and the old file, now under the temp name, is kept for a rollback and then removed
/// in the background: a plain rename would free the old inode on the caller's thread.
/// Elsewhere the old file gets a second name first (a hard link, or a copy where the
/// file system has none), and the new one is renamed over it.
pub(super) fn replace_file(temp: &Path, target: &Path) -> std::io::Result<Published> {
    match exchange(temp, target) {
        Ok(()) => Ok(Published::Exchanged {
            target: target.to_path_buf(),
            displaced: temp.to_path_buf(),
        }),
        // ENOENT: no old file to displace. Others: no exchange on this system.
        Err(_) => replace_by_renames(temp, target),
    }
}

/// [`replace_file`] without an exchange.
fn replace_by_renames(temp: &Path, target: &Path) -> std::io::Result<Published> {
    if std::fs::symlink_metadata(target).is_ok() {
        let displaced = temp_beside(target);
        keep_aside(target, &displaced)?;
        if let Err(e) = platform::rename(temp, target) {
            let _ = std::fs::remove_file(&displaced);
            return Err(e);
        }
        return Ok(Published::Exchanged {
            target: target.to_path_buf(),
            displaced,
        });
    }
    platform::rename(temp, target).map(|()| Published::Created {
        target: target.to_path_buf(),
    })
}

/// Give the file at `target` a second name, `aside`, that outlives a rename over it.
fn keep_aside(target: &Path, aside: &Path) -> std::io::Result<()> {
    std::fs::hard_link(target, aside).or_else(|_| std::fs::copy(target, aside).map(drop))
}

/// Undo [`replace_file`]: the old file (at `displaced`) returns to `target`, the new
/// one goes.
pub(super) fn restore(displaced: &Path, target: &Path) -> std::io::Result<()> {
    match exchange(displaced, target) {
        Ok(()) => std::fs::remove_file(displaced),
        Err(_) => platform::rename(displaced, target),
    }
}

/// Take `target` out of sight (gone already is fine).
pub(super) fn erase_file(target: &Path) -> std::io::Result<Published> {
    let doomed = temp_beside(target);
    match platform::rename(target, &doomed) {
        Ok(()) => Ok(Published::Erased {
            target: target.to_path_buf(),
            doomed,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Published::Nothing),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exchange_a_replaced_file_can_still_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let (temp, target) = (dir.path().join("t"), dir.path().join("c"));
        std::fs::write(&target, b"old").unwrap();
        std::fs::write(&temp, b"new").unwrap();
        let Published::Exchanged { displaced, .. } = replace_by_renames(&temp, &target).unwrap()
        else {
            panic!("an existing target is displaced, not created");
        };
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!temp.exists());
        restore(&displaced, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert!(!displaced.exists());
        // A new file is created, and a rollback removes it.
        std::fs::write(&temp, b"only").unwrap();
        let fresh = dir.path().join("fresh");
        assert!(matches!(
            replace_by_renames(&temp, &fresh).unwrap(),
            Published::Created { .. }
        ));
        assert_eq!(std::fs::read(&fresh).unwrap(), b"only");
    }
}
