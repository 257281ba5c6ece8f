//! The decoded partial chunks an append wrote, kept for the next append to the same
//! array. A pipeline appending every few milliseconds would otherwise read and decode
//! the same tail chunk again each time: a fifth of a small append. An entry is used
//! only while the store still holds the very chunk this process wrote (its
//! [`ChunkStamp`]: the same file on disk, the same entry of an Icechunk manifest), so
//! a write by anyone else, or any later update or overwrite, makes it miss.

use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;

use crate::dtype::DType;
use crate::hierarchy::ZArray;
use crate::store::{ChunkStamp, Container};

/// Entries kept across all arrays; each one is a chunk of at most [`MAX_BYTES`].
const MAX_ENTRIES: usize = 8;
const MAX_BYTES: usize = 16 << 20;

struct Entry {
    /// The container and the chunk's key.
    id: String,
    /// The array's metadata without its shape: same dtype, grid and codecs.
    layout: String,
    stamp: ChunkStamp,
    bytes: Vec<u8>,
    /// The chunk as stored, when the writer kept it (see `blosc::encode_tail`).
    encoded: Option<Bytes>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn cache() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A chunk an append wrote: its key, array path and grid position, decoded bytes and
/// (if kept) stored bytes.
type Kept = (
    zarrs::storage::StoreKey,
    String,
    Vec<u64>,
    Vec<u8>,
    Option<Bytes>,
);

/// The cache as one append to one array sees it.
pub struct TailCache {
    container: Container,
    layout: String,
    kept: Mutex<Vec<Kept>>,
}

impl TailCache {
    /// The cache for an append to the array whose (new) metadata is `meta`: arrays
    /// of fixed-size elements in plain (unsharded) chunks, in a store that stamps its
    /// chunks (local, Icechunk), keep their decoded tail chunk for the next append.
    pub fn for_append(container: &Container, meta: &Value, dtype: DType) -> Option<Self> {
        let sharded = meta
            .get("codecs")
            .and_then(Value::as_array)
            .is_some_and(|codecs| {
                codecs
                    .iter()
                    .any(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
            });
        (container.stamps_chunks() && dtype.size().is_some() && !sharded)
            .then(|| Self::new(container, meta))
    }

    /// For the array whose metadata is `meta` in `container` (one whose chunks have
    /// stamps: local, or an Icechunk session).
    pub fn new(container: &Container, meta: &Value) -> Self {
        let mut layout = meta.clone();
        if let Some(m) = layout.as_object_mut() {
            m.remove("shape");
        }
        Self {
            container: container.clone(),
            layout: layout.to_string(),
            kept: Mutex::new(Vec::new()),
        }
    }

    fn id(&self, key: &zarrs::storage::StoreKey) -> String {
        format!("{}\u{0}{}", self.container.id, key.as_str())
    }

    /// The decoded `chunk` of `array` if this process wrote it last, `len` bytes long,
    /// and its encoding if that was kept.
    pub fn take(
        &self,
        array: &ZArray,
        chunk: &[u64],
        len: usize,
    ) -> Option<(Vec<u8>, Option<Bytes>)> {
        let key = array.chunk_key(chunk);
        let id = self.id(&key);
        let entry = {
            let mut entries = cache();
            let i = entries
                .iter()
                .position(|e| e.id == id && e.layout == self.layout)?;
            entries.remove(i)
        };
        let now = self
            .container
            .chunk_stamp(&key, array.path().as_str(), chunk);
        (entry.bytes.len() == len && now.as_ref() == Some(&entry.stamp))
            .then_some((entry.bytes, entry.encoded))
    }

    /// Remember the decoded bytes just written to `chunk` of `array` (and what was
    /// stored, if given), for [`TailCache::commit`].
    pub fn keep(&self, array: &ZArray, chunk: &[u64], bytes: Vec<u8>, encoded: Option<Bytes>) {
        if bytes.len() <= MAX_BYTES {
            let kept = (
                array.chunk_key(chunk),
                array.path().as_str().to_string(),
                chunk.to_vec(),
                bytes,
                encoded,
            );
            self.kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(kept);
        }
    }

    /// After the save committed (and while its lock is still held): make what it
    /// wrote available to the next append, stamped with the chunks now in place.
    pub fn commit(self) {
        let kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()));
        let stamped: Vec<_> = kept
            .into_iter()
            .filter_map(|(key, node, chunk, bytes, encoded)| {
                // A chunk equal to the fill value is erased, not written: no stamp.
                let stamp = self.container.chunk_stamp(&key, &node, &chunk)?;
                Some((self.id(&key), stamp, bytes, encoded))
            })
            .collect();
        let mut entries = cache();
        for (id, stamp, bytes, encoded) in stamped {
            entries.retain(|e| e.id != id);
            entries.push(Entry {
                id,
                layout: self.layout.clone(),
                stamp,
                bytes,
                encoded,
            });
        }
        let excess = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..excess);
    }
}
