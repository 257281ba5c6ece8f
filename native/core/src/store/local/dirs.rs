//! Directory operations of the local store: the writer lock of a dataset, the atomic
//! publication of a whole new array, and the syscalls both need (exchange, rename
//! without replacing, directory sync).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Result, SaveError};

use super::temp::{temp_beside, temp_name};

fn io_error(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> SaveError {
    move |e| SaveError::store(context, e)
}

/// Refuse symbolic links on the way from `root` to `root/dataset`, so a dataset
/// never resolves outside `filePath`.
pub fn dataset_dir(root: &Path, dataset: &str) -> Result<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in dataset.split('/') {
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

/// An exclusive, cross-process lock on one dataset (an `flock` on a directory),
/// released when dropped.
#[derive(Debug)]
pub struct DirLock {
    dir: File,
    /// Where a new dataset gets published: the highest directory on the way to it
    /// that does not exist yet. `None` when the dataset directory exists.
    pub missing_top: Option<PathBuf>,
    /// The locked directory as it was once the lock was taken.
    pub seen: std::fs::Metadata,
}

impl DirLock {
    /// The locked directory, open.
    pub fn file(&self) -> &File {
        &self.dir
    }
}

fn open_dir(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_DIRECTORY: whatever else sits at `dir` (a file, a FIFO) is never opened.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
}

/// Lock `dir`, opened as `file`, and return the lock with `dir`'s metadata if `still`
/// holds once it is taken (and `dir` is still the directory that was opened: an
/// overwrite may have swapped it meanwhile).
fn lock_if(
    dir: &Path,
    file: File,
    still: impl Fn() -> bool,
) -> Result<Option<(File, std::fs::Metadata)>> {
    use std::os::unix::fs::MetadataExt;
    let held = file
        .metadata()
        .map_err(io_error(format!("opening {}", dir.display())))?;
    file.lock()
        .map_err(io_error(format!("locking {}", dir.display())))?;
    let current = std::fs::metadata(dir).ok();
    let same = current.as_ref().map(MetadataExt::ino) == Some(held.ino());
    Ok(current.filter(|_| same && still()).map(|m| (file, m)))
}

/// Lock the dataset at `dir` against writers in this and other processes, creating
/// nothing. An existing dataset is locked through its own directory. A missing one
/// (with `create`) through the nearest directory above it that exists, which stays
/// the nearest while the lock is held: the new dataset appears there in one rename.
/// With `create` false, a missing dataset is `None`.
pub fn lock_dataset(dir: &Path, create: bool) -> Result<Option<DirLock>> {
    loop {
        match open_dir(dir) {
            Ok(file) => {
                if let Some((file, seen)) = lock_if(dir, file, || true)? {
                    return Ok(Some(DirLock {
                        dir: file,
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
        let file = open_dir(&parent).map_err(io_error(format!("opening {}", parent.display())))?;
        if let Some((file, seen)) = lock_if(&parent, file, still_missing)? {
            return Ok(Some(DirLock {
                dir: file,
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

/// Sync a directory, so the entries renamed or made in it survive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    open_dir(dir)?.sync_all()
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
/// next writer. `fill` gets the staging directory.
pub fn publish_dir(
    target: &Path,
    durable: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
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
        exchange(&staging, target).or_else(|_| {
            // No exchange here (old kernel, other OS, exotic filesystem): two renames.
            let old = parent.join(format!("{}.old", temp_name("swap")));
            std::fs::rename(target, &old)?;
            std::fs::rename(&staging, target)?;
            std::fs::rename(&old, &staging)
        })
    } else {
        rename_noreplace(&staging, target)
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
    let _ = std::fs::remove_dir_all(&staging);
    if let Some(m) = marker {
        let _ = std::fs::remove_file(target.join(m));
    }
    Ok(())
}

fn path_c(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::CString::new(p.as_os_str().as_bytes())?)
}

/// `renameat2(a, b, flags)`.
#[cfg(target_os = "linux")]
fn renameat2(a: &Path, b: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let (a, b) = (path_c(a)?, path_c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Swap two directory entries in one step (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

#[cfg(not(target_os = "linux"))]
pub fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Rename `a` to `b` only if `b` does not exist; where the kernel can't tell, a
/// rename checked just before (the dataset lock keeps other writers out).
fn rename_noreplace(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match renameat2(a, b, libc::RENAME_NOREPLACE) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        other => return other,
    }
    if std::fs::symlink_metadata(b).is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    let _ = path_c;
    std::fs::rename(a, b)
}
