//! zarrs reads and writes through the atomic store: `set` stages a temp file,
//! `erase` notes an erase, both applied at the store's commit; reads and lists go to
//! the files as they are.

use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, ReadableStorageTraits, StorageError,
    StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use std::sync::Arc;

use super::{lock, AtomicFilesystemStore, Mode, Pending};
use crate::store::key_values::{zarrs_storage, KeyValues, StorageResult};

// Partial writes stay refused (the trait's default): in place, they would break atomicity.
impl KeyValues for AtomicFilesystemStore {
    const PARTIAL_READS: bool = true;

    fn get_value(&self, key: &StoreKey) -> StorageResult<Option<Bytes>> {
        self.inner.get(key)
    }

    fn get_ranges<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> StorageResult<MaybeBytesIterator<'a>> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn value_size(&self, key: &StoreKey) -> StorageResult<Option<u64>> {
        self.inner.size_key(key)
    }

    fn set_value(&self, key: &StoreKey, value: Bytes) -> StorageResult<()> {
        self.stage(key, &value)
            .map_err(|e| StorageError::IOError(Arc::new(e)))
    }

    fn erase_value(&self, key: &StoreKey) -> StorageResult<()> {
        let target = self.inner.key_to_fspath(key);
        if self.mode == Mode::Direct {
            return match std::fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StorageError::IOError(Arc::new(e)))
                }
                _ => Ok(()),
            };
        }
        lock(&self.pending).push(Pending::Erase(target));
        Ok(())
    }

    fn erase_values(&self, prefix: &StorePrefix) -> StorageResult<()> {
        self.inner.erase_prefix(prefix)
    }
}

zarrs_storage!(AtomicFilesystemStore);

impl ListableStorageTraits for AtomicFilesystemStore {
    fn list(&self) -> StorageResult<StoreKeys> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> StorageResult<StoreKeys> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> StorageResult<StoreKeysPrefixes> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> StorageResult<u64> {
        self.inner.size_prefix(prefix)
    }
}
