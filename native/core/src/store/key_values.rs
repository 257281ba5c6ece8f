//! zarrs' storage traits over a store kind's own reads and writes. Each kind
//! implements [`KeyValues`] and `zarrs_storage!` derives zarrs' readable and
//! writable traits from it, so their signatures and the partial-access rules are
//! written once.

use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, MaybeBytesIterator, OffsetBytesIterator, StorageError, StoreKey, StorePrefix,
};

pub(crate) type StorageResult<T> = std::result::Result<T, StorageError>;

/// A store's values by key, as zarrs reads and writes them.
pub(crate) trait KeyValues {
    /// Whether [`KeyValues::get_ranges`] reads only the bytes asked for.
    const PARTIAL_READS: bool = false;

    /// The value at `key`, `None` when absent.
    fn get_value(&self, key: &StoreKey) -> StorageResult<Option<Bytes>>;

    /// Byte ranges of the value at `key`: by default sliced out of one whole read.
    fn get_ranges<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> StorageResult<MaybeBytesIterator<'a>> {
        Ok(self
            .get_value(key)?
            .map(|bytes| ranges_of(key, bytes, byte_ranges)))
    }

    /// The size of the value at `key`, `None` when absent.
    fn value_size(&self, key: &StoreKey) -> StorageResult<Option<u64>>;

    fn set_value(&self, key: &StoreKey, value: Bytes) -> StorageResult<()>;

    /// Partial writes: refused unless a store says otherwise, since zarrs asks
    /// `supports_set_partial` (false) before it makes one.
    fn set_ranges(&self, key: &StoreKey, _values: OffsetBytesIterator) -> StorageResult<()> {
        Err(StorageError::Unsupported(format!(
            "partial writes to {key} are not supported: values are written whole"
        )))
    }

    fn erase_value(&self, key: &StoreKey) -> StorageResult<()>;

    fn erase_values(&self, prefix: &StorePrefix) -> StorageResult<()>;
}

/// zarrs' `ReadableStorageTraits` and `WritableStorageTraits` for a [`KeyValues`] store.
macro_rules! zarrs_storage {
    ($store:ty) => {
        const _: () = {
            use zarrs::storage::byte_range::ByteRangeIterator;
            use zarrs::storage::{
                Bytes, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits, StoreKey,
                StorePrefix, WritableStorageTraits,
            };
            use $crate::store::key_values::{KeyValues, StorageResult};

            impl ReadableStorageTraits for $store {
                fn get_partial_many<'a>(
                    &'a self,
                    key: &StoreKey,
                    byte_ranges: ByteRangeIterator<'a>,
                ) -> StorageResult<MaybeBytesIterator<'a>> {
                    self.get_ranges(key, byte_ranges)
                }

                fn size_key(&self, key: &StoreKey) -> StorageResult<Option<u64>> {
                    self.value_size(key)
                }

                fn supports_get_partial(&self) -> bool {
                    <$store as KeyValues>::PARTIAL_READS
                }
            }

            impl WritableStorageTraits for $store {
                fn set(&self, key: &StoreKey, value: Bytes) -> StorageResult<()> {
                    self.set_value(key, value)
                }

                fn set_partial_many(
                    &self,
                    key: &StoreKey,
                    values: OffsetBytesIterator,
                ) -> StorageResult<()> {
                    self.set_ranges(key, values)
                }

                fn erase(&self, key: &StoreKey) -> StorageResult<()> {
                    self.erase_value(key)
                }

                fn erase_prefix(&self, prefix: &StorePrefix) -> StorageResult<()> {
                    self.erase_values(prefix)
                }

                fn supports_set_partial(&self) -> bool {
                    false
                }
            }
        };
    };
}
pub(crate) use zarrs_storage;

/// The `byte_ranges` of a value read whole (`bytes`, at `key`), for stores that
/// read values whole: a range outside the value is an error.
fn ranges_of<'a>(
    key: &StoreKey,
    bytes: Bytes,
    byte_ranges: ByteRangeIterator<'a>,
) -> Box<dyn Iterator<Item = StorageResult<Bytes>> + 'a> {
    let len = bytes.len() as u64;
    let out: Vec<StorageResult<Bytes>> = byte_ranges
        .map(|r| {
            let start = r.start(len);
            let end = start + r.length(len);
            if end > len {
                return Err(StorageError::Other(format!(
                    "byte range {r} outside {key} of {len} bytes"
                )));
            }
            Ok(bytes.slice(start as usize..end as usize))
        })
        .collect();
    Box::new(out.into_iter())
}
