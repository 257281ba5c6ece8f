//! Local directories: every write atomic (temp file, then exchanged or renamed into
//! place), writers of one dataset serialised by an `flock` on its directory,
//! whole-array replacement by staging + one atomic directory exchange.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use crate::control::Control;
use crate::error::{Result, SaveError};

use super::opener::{create_new, create_soon, Ahead};
use super::reaper::remove_later;
use super::TEMP_PREFIX;

/// A filesystem store whose writes never leave a half-written file behind, and whose
/// writes of one save become visible together: `set` writes a uniquely named temp
/// file beside its target and `erase` is noted, both applied in order by [`commit`]
/// (exchanges and renames, which need no space) or dropped by [`discard`]. A save
/// that fails part way, on ENOSPC or an abort, so leaves the dataset as it was.
///
/// [`commit`]: AtomicFilesystemStore::commit
/// [`discard`]: AtomicFilesystemStore::discard
#[derive(Debug)]
pub struct AtomicFilesystemStore {
    inner: FilesystemStore,
    root: PathBuf,
    /// Directories already checked to lie inside `root`.
    checked: Mutex<HashSet<PathBuf>>,
    /// Writes go straight to their files: the whole tree is a staging directory
    /// nobody reads until it is swapped in.
    direct: bool,
    control: Arc<Control>,
    pending: Mutex<Vec<Pending>>,
    /// Old files that commits displaced, for the reaper once the save is done.
    displaced: Mutex<Vec<PathBuf>>,
    /// Temp files being created ahead of the `set` that will fill them, by target.
    ahead: Mutex<HashMap<PathBuf, (PathBuf, Ahead)>>,
}

#[derive(Debug)]
enum Pending {
    Rename { temp: PathBuf, target: PathBuf },
    Erase(PathBuf),
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique number for temp names.
pub fn unique_suffix() -> u64 {
    TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A unique hidden name in `target`'s directory, telling readers it is not data.
fn temp_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("value");
    target.with_file_name(format!(
        "{TEMP_PREFIX}{name}.{}.{}",
        std::process::id(),
        unique_suffix()
    ))
}

impl AtomicFilesystemStore {
    /// A store rooted at `root`; every byte it writes is counted on `control`.
    pub fn new(root: &Path, control: Arc<Control>) -> Result<Self> {
        Self::with_mode(root, control, false)
    }

    /// A store over a private staging directory: files are written in place, with
    /// no temp names, since readers only ever see the directory once it is complete.
    pub fn staging(root: &Path, control: Arc<Control>) -> Result<Self> {
        Self::with_mode(root, control, true)
    }

    fn with_mode(root: &Path, control: Arc<Control>, direct: bool) -> Result<Self> {
        let inner = FilesystemStore::new(root).map_err(|e| {
            SaveError::InvalidArgument(format!("filePath '{}' is not usable: {e}", root.display()))
        })?;
        Ok(Self {
            inner,
            root: root.to_path_buf(),
            checked: Mutex::new(HashSet::new()),
            direct,
            control,
            pending: Mutex::new(Vec::new()),
            displaced: Mutex::new(Vec::new()),
            ahead: Mutex::new(HashMap::new()),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ahead(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (PathBuf, Ahead)>> {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start creating, on a background thread, the temp files that coming `set`s of
    /// `keys` will write, so that they are ready when the values are encoded. Skips
    /// keys whose directory does not exist yet; [`discard`] removes what goes unused.
    ///
    /// [`discard`]: AtomicFilesystemStore::discard
    pub fn prepare(&self, keys: &[StoreKey]) {
        if self.direct {
            return;
        }
        let mut ahead = self.ahead();
        let (targets, temps): (Vec<PathBuf>, Vec<PathBuf>) = keys
            .iter()
            .map(|key| self.inner.key_to_fspath(key))
            .filter(|target| {
                let dir = target.parent().unwrap_or(&self.root);
                !ahead.contains_key(target) && self.check_inside(dir).is_ok()
            })
            .map(|target| {
                let temp = temp_beside(&target);
                (target, temp)
            })
            .unzip();
        let files = create_soon(temps.clone());
        for ((target, temp), file) in targets.into_iter().zip(temps).zip(files) {
            ahead.insert(target, (temp, file));
        }
    }

    /// A fresh temp file for `target`: the one prepared for it, or a new one. A process
    /// that crashed with this pid (a container's pid is often the same every run) may
    /// have left some of our names behind: then the next name.
    fn temp_for(&self, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
        if let Some((temp, file)) = self.ahead().remove(target) {
            if let Ok(file) = file.wait() {
                return Ok((temp, file));
            }
        }
        let mut attempts = 0;
        loop {
            let temp = temp_beside(target);
            match create_new(&temp) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 10_000 => {
                    attempts += 1
                }
                created => return created.map(|file| (temp, file)),
            }
        }
    }

    /// Writes never pass through a symbolic link below `filePath` (a `c -> /elsewhere`
    /// planted inside a dataset would carry them out of it): the rule `dataset_dir`
    /// applies to dataset names. One `lstat` per directory not yet seen by this store;
    /// `NotFound` if `dir` does not exist yet.
    fn check_inside(&self, dir: &Path) -> std::io::Result<()> {
        let below = dir
            .strip_prefix(&self.root)
            .map_err(|_| std::io::Error::other(format!("{} is outside filePath", dir.display())))?;
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        let mut path = self.root.clone();
        for part in below.components() {
            path.push(part);
            if checked.contains(&path) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                return Err(std::io::Error::other(format!(
                    "{} is a symbolic link; zarr-saver does not follow links inside filePath",
                    path.display()
                )));
            }
            checked.insert(path.clone());
        }
        Ok(())
    }

    fn stage(&self, key: &StoreKey, value: &[u8]) -> std::io::Result<()> {
        let target = self.inner.key_to_fspath(key);
        let dir = target.parent().unwrap_or(&self.root);
        if self.direct {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&target, value)?;
            self.control.wrote(value.len() as u64);
            return Ok(());
        }
        match self.check_inside(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                self.check_inside(dir)?;
            }
            checked => checked?,
        }
        let (temp, mut file) = self.temp_for(&target)?;
        if let Err(e) = file.write_all(value) {
            drop(file);
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        self.control.wrote(value.len() as u64);
        self.pending().push(Pending::Rename { temp, target });
        Ok(())
    }

    /// Make every staged write and erase visible, in the order they were made.
    pub fn commit(&self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut *self.pending());
        let mut ops = pending.into_iter();
        while let Some(op) = ops.next() {
            let result = match &op {
                Pending::Rename { temp, target } => replace_file(temp, target),
                Pending::Erase(target) => erase_file(target),
            };
            match result {
                Ok(Some(old)) => self
                    .displaced
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(old),
                Ok(None) => {}
                Err(e) => {
                    self.pending().extend(std::iter::once(op).chain(ops));
                    self.discard();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Drop every staged write (removing its temp file) and erase, and every temp
    /// file prepared and not written.
    pub fn discard(&self) {
        for op in std::mem::take(&mut *self.pending()) {
            if let Pending::Rename { temp, .. } = op {
                let _ = std::fs::remove_file(temp);
            }
        }
        for (_, (temp, file)) in std::mem::take(&mut *self.ahead()) {
            if file.wait().is_ok() {
                let _ = std::fs::remove_file(temp);
            }
        }
    }
}

impl Drop for AtomicFilesystemStore {
    fn drop(&mut self) {
        self.discard();
        remove_later(std::mem::take(
            self.displaced.get_mut().unwrap_or_else(|e| e.into_inner()),
        ));
    }
}

impl ReadableStorageTraits for AtomicFilesystemStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

impl WritableStorageTraits for AtomicFilesystemStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> std::result::Result<(), StorageError> {
        self.stage(key, &value)
            .map_err(|e| StorageError::IOError(Arc::new(e)))
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> std::result::Result<(), StorageError> {
        // In-place partial writes would break atomicity; supports_set_partial() says so.
        Err(StorageError::Unsupported(format!(
            "partial writes to {key} are disabled"
        )))
    }

    fn erase(&self, key: &StoreKey) -> std::result::Result<(), StorageError> {
        let target = self.inner.key_to_fspath(key);
        if self.direct {
            return match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StorageError::IOError(Arc::new(e)))
                }
                _ => Ok(()),
            };
        }
        self.pending().push(Pending::Erase(target));
        Ok(())
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> std::result::Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for AtomicFilesystemStore {
    fn list(&self) -> std::result::Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> std::result::Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(
        &self,
        prefix: &StorePrefix,
    ) -> std::result::Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> std::result::Result<u64, StorageError> {
        self.inner.size_prefix(prefix)
    }
}

/// Move `temp` over `target` atomically. Where the kernel can, the two are exchanged
/// and the old file, now under the temp name, is returned for removal in the
/// background: a plain rename would free the old inode on the caller's thread.
fn replace_file(temp: &Path, target: &Path) -> std::io::Result<Option<PathBuf>> {
    match exchange(temp, target) {
        Ok(()) => Ok(Some(temp.to_path_buf())),
        // ENOENT: no old file to displace. Others: no exchange on this system.
        Err(_) => std::fs::rename(temp, target).map(|()| None),
    }
}

/// Take `target` out of sight (gone already is fine), returning the file to remove.
fn erase_file(target: &Path) -> std::io::Result<Option<PathBuf>> {
    let doomed = temp_beside(target);
    match std::fs::rename(target, &doomed) {
        Ok(()) => Ok(Some(doomed)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive, cross-process lock on one dataset (an `flock` on its directory),
/// released when dropped.
pub struct DirLock {
    _dir: std::fs::File,
}

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

/// Lock `dir` against writers in this and other processes. With `create` false, a
/// missing directory is not locked (`None`).
pub fn lock_dir(dir: &Path, create: bool) -> Result<Option<DirLock>> {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    loop {
        // O_DIRECTORY: whatever else sits at `dir` (a file, a FIFO) is never opened.
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == NotFound && create => {
                std::fs::create_dir_all(dir)
                    .map_err(io_error(format!("creating {}", dir.display())))?;
                continue;
            }
            Err(e) if matches!(e.kind(), NotFound | NotADirectory) && !create => return Ok(None),
            Err(e) => return Err(SaveError::store(format!("opening {}", dir.display()), e)),
        };
        let held = file
            .metadata()
            .map_err(io_error(format!("opening {}", dir.display())))?;
        file.lock()
            .map_err(io_error(format!("locking {}", dir.display())))?;
        // An overwrite may have swapped the directory while we waited: lock the new one.
        let current = std::fs::metadata(dir).map(|m| m.ino()).ok();
        if current == Some(held.ino()) {
            return Ok(Some(DirLock { _dir: file }));
        }
    }
}

/// Replace `target` whole: `write` fills a fresh staging directory beside it, which
/// is then swapped in with one atomic exchange. Readers see the old array or the new
/// one, never a mix; a crash leaves only a temp directory, removed by the next replace.
pub fn replace_dir(target: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("dataset")
        .to_string();
    let stale = format!("{TEMP_PREFIX}{name}.");
    // The caller holds the dataset lock, so any staging directory of this name is a crash leftover.
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&stale))
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let staging = parent.join(format!("{stale}{}.{}", std::process::id(), unique_suffix()));
    std::fs::create_dir_all(&staging)
        .map_err(io_error(format!("creating {}", staging.display())))?;
    if let Err(e) = write(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let old = staging.with_extension("old");
    let swapped = match exchange(&staging, target) {
        Ok(()) => Ok(()),
        // No exchange here (old kernel, other OS, exotic filesystem): two renames.
        Err(_) => std::fs::rename(target, &old)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .and_then(|()| std::fs::rename(&staging, target))
            .map(|()| {
                let _ = std::fs::remove_dir_all(&old);
            }),
    };
    swapped.map_err(io_error(format!(
        "swapping in the new {}",
        target.display()
    )))?;
    // After an exchange, `staging` holds the old array.
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

/// Swap two directory entries in one step (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}
