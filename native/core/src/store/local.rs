//! Where arrays live. Today: local directories, with every write atomic
//! (temp file + rename). Object stores plug in here later behind the same `Container`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    ReadableWritableListableStorage, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes,
    StorePrefix, WritableStorageTraits,
};

use crate::control::Control;
use crate::error::{Result, SaveError};

/// Temp files start with this so readers and listings can tell them apart.
pub const TEMP_PREFIX: &str = ".zarr-saver-tmp-";

/// A filesystem store whose `set` never leaves a half-written file behind:
/// it writes a uniquely named temp file beside the target, then renames it over.
#[derive(Debug)]
pub struct AtomicFilesystemStore {
    inner: FilesystemStore,
    root: PathBuf,
    control: Arc<Control>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFilesystemStore {
    /// A store rooted at `root`; every byte it writes is counted on `control`.
    pub fn new(root: &Path, control: Arc<Control>) -> Result<Self> {
        let inner = FilesystemStore::new(root).map_err(|e| {
            SaveError::InvalidArgument(format!("filePath '{}' is not usable: {e}", root.display()))
        })?;
        Ok(Self {
            inner,
            root: root.to_path_buf(),
            control,
        })
    }

    fn write_atomically(&self, key: &StoreKey, value: &[u8]) -> std::io::Result<()> {
        let target = self.inner.key_to_fspath(key);
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("value");
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!("{TEMP_PREFIX}{name}.{}.{n}", std::process::id()));
        let result = std::fs::write(&temp, value).and_then(|()| std::fs::rename(&temp, &target));
        match result {
            Ok(()) => self.control.wrote(value.len() as u64),
            Err(_) => {
                let _ = std::fs::remove_file(&temp);
            }
        }
        result
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
        self.write_atomically(key, &value)
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
        self.inner.erase(key)
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

/// A Zarr hierarchy (the `filePath`) opened for writing.
#[derive(Clone)]
pub struct Container {
    pub storage: ReadableWritableListableStorage,
    /// Identifies the container for in-process locks.
    pub id: String,
    root: PathBuf,
    control: Arc<Control>,
}

/// An exclusive, cross-process lock on one dataset (an `flock` on its directory),
/// released when dropped.
pub struct DatasetLock {
    _dir: std::fs::File,
}

fn key(path: &str) -> Result<StoreKey> {
    StoreKey::new(path.trim_start_matches('/'))
        .map_err(|e| SaveError::InvalidArgument(format!("invalid store key '{path}': {e}")))
}

fn io_error(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> SaveError {
    move |e| SaveError::store(context, e)
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

/// `location` fit for a message: any `user:password@` in a URL is masked.
pub fn redact(location: &str) -> String {
    match location.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/').map_or(rest, |(authority, _)| authority).rfind('@') {
            Some(at) => format!("{scheme}://***{}", &rest[at..]),
            None => location.to_string(),
        },
        None => location.to_string(),
    }
}

impl Container {
    /// Open `location`: a local directory path (the facade resolves `file://` and
    /// relative paths). Object-store URLs are rejected until that store lands.
    /// Every byte written through it is counted on `control`.
    pub fn open(location: &str, control: Arc<Control>) -> Result<Self> {
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(SaveError::Unsupported(format!(
                "filePath '{}': the '{scheme}://' store is not supported yet; use a local path",
                redact(location)
            )));
        }
        let root = PathBuf::from(location);
        if root.exists() && !root.is_dir() {
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{location}' exists and is not a directory"
            )));
        }
        Self::at(root, control)
    }

    fn at(root: PathBuf, control: Arc<Control>) -> Result<Self> {
        let store = AtomicFilesystemStore::new(&root, control.clone())?;
        Ok(Self {
            storage: Arc::new(store),
            id: root.display().to_string(),
            root,
            control,
        })
    }

    /// The dataset's directory, refusing symbolic links on the way so that a
    /// dataset never resolves outside `filePath`.
    fn dataset_dir(&self, dataset: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
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
        Ok(self.root.join(dataset))
    }

    /// Lock `dataset` against writers in this and other processes. With `create`
    /// false, a dataset without a directory is not locked (`None`): it does not exist.
    pub fn lock_dataset(&self, dataset: &str, create: bool) -> Result<Option<DatasetLock>> {
        let dir = self.dataset_dir(dataset)?;
        loop {
            if create {
                std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
            } else if !dir.is_dir() {
                return Ok(None);
            }
            let file = match std::fs::File::open(&dir) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(SaveError::store(format!("opening {}", dir.display()), e)),
            };
            file.lock().map_err(io_error(format!("locking {}", dir.display())))?;
            // An overwrite may have swapped the directory while we waited: lock the new one.
            use std::os::unix::fs::MetadataExt;
            let held = file.metadata().map(|m| m.ino()).ok();
            let current = std::fs::metadata(&dir).map(|m| m.ino()).ok();
            if held.is_some() && held == current {
                return Ok(Some(DatasetLock { _dir: file }));
            }
        }
    }

    /// Remove the dataset directory if a failed save left it empty.
    pub fn remove_if_empty(&self, dataset: &str) {
        let _ = std::fs::remove_dir(self.root.join(dataset));
    }

    /// Replace `dataset` whole: `write` fills a fresh staging container (the array at
    /// its root), which is then swapped in with one atomic exchange. Readers see the
    /// old array or the new one, never a mix; a crash leaves only a temp directory.
    pub fn replace_dataset(&self, dataset: &str, write: impl FnOnce(&Container) -> Result<()>) -> Result<()> {
        let target = self.dataset_dir(dataset)?;
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("dataset").to_string();
        let stale = format!("{TEMP_PREFIX}{name}.");
        // We hold the dataset lock, so any staging directory of this name is a crash leftover.
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for entry in entries.flatten() {
                if entry.file_name().to_str().is_some_and(|n| n.starts_with(&stale)) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let staging = parent.join(format!("{stale}{}.{n}", std::process::id()));
        std::fs::create_dir_all(&staging).map_err(io_error(format!("creating {}", staging.display())))?;
        let result = Container::at(staging.clone(), self.control.clone()).and_then(|c| write(&c));
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let swapped = match exchange(&staging, &target) {
            Ok(()) => Ok(()),
            // No exchange here (old kernel, other OS, exotic filesystem): two renames.
            Err(_) => std::fs::rename(&target, staging.with_extension("old"))
                .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                .and_then(|()| std::fs::rename(&staging, &target))
                .map(|()| {
                    let _ = std::fs::remove_dir_all(staging.with_extension("old"));
                }),
        };
        swapped.map_err(io_error(format!("swapping in the new {}", target.display())))?;
        // `staging` now holds the old array.
        let _ = std::fs::remove_dir_all(&staging);
        Ok(())
    }

    /// Read and parse a JSON document; `Ok(None)` when the key is absent.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>> {
        let k = key(path)?;
        let Some(bytes) = self
            .storage
            .get(&k)
            .map_err(|e| SaveError::store(format!("reading {path}"), e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SaveError::Corrupt(format!("{path} is not valid JSON: {e}")))
    }

    /// Write a JSON document atomically.
    pub fn put_json(&self, path: &str, value: &Value) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
        bytes.push(b'\n');
        self.storage
            .set(&key(path)?, bytes.into())
            .map_err(|e| SaveError::store(format!("writing {path}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_masks_url_credentials_only() {
        assert_eq!(redact("s3://KEY:secret@bucket/p.zarr"), "s3://***@bucket/p.zarr");
        assert_eq!(redact("s3://bucket/a@b"), "s3://bucket/a@b");
        assert_eq!(redact("/tmp/x@y"), "/tmp/x@y");
    }
}
