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

use crate::error::{Result, SaveError};

/// Temp files start with this so readers and listings can tell them apart.
pub const TEMP_PREFIX: &str = ".zarr-saver-tmp-";

/// A filesystem store whose `set` never leaves a half-written file behind:
/// it writes a uniquely named temp file beside the target, then renames it over.
#[derive(Debug)]
pub struct AtomicFilesystemStore {
    inner: FilesystemStore,
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicFilesystemStore {
    pub fn new(root: &Path) -> Result<Self> {
        let inner = FilesystemStore::new(root).map_err(|e| {
            SaveError::InvalidArgument(format!("filePath '{}' is not usable: {e}", root.display()))
        })?;
        Ok(Self {
            inner,
            root: root.to_path_buf(),
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
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
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
}

fn key(path: &str) -> Result<StoreKey> {
    StoreKey::new(path.trim_start_matches('/'))
        .map_err(|e| SaveError::InvalidArgument(format!("invalid store key '{path}': {e}")))
}

impl Container {
    /// Open `location`: a local directory path (the facade resolves `file://` and
    /// relative paths). Object-store URLs are rejected until that store lands.
    pub fn open(location: &str) -> Result<Self> {
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(SaveError::Unsupported(format!(
                "filePath '{location}': the '{scheme}://' store is not supported yet; use a local path"
            )));
        }
        let root = PathBuf::from(location);
        if root.exists() && !root.is_dir() {
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{location}' exists and is not a directory"
            )));
        }
        let store = AtomicFilesystemStore::new(&root)?;
        Ok(Self {
            storage: Arc::new(store),
            id: location.to_string(),
        })
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

    /// Remove every key under `node` (a dataset path without leading slash).
    pub fn erase_node(&self, node: &str) -> Result<()> {
        let prefix = StorePrefix::new(format!("{}/", node.trim_matches('/'))).map_err(|e| {
            SaveError::InvalidArgument(format!("invalid dataset path '{node}': {e}"))
        })?;
        self.storage
            .erase_prefix(&prefix)
            .map_err(|e| SaveError::store(format!("removing dataset '{node}'"), e))
    }
}
