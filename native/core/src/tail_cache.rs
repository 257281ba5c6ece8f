//! The decoded partial chunks an append wrote, kept for the next append to the same
//! array. A pipeline appending every few milliseconds would otherwise read and decode
//! the same tail chunk again each time: a fifth of a small append. An entry is used
//! only while the chunk file on disk is the very file this process wrote (same
//! device, inode, size, mtime and ctime), so a write by anyone else, or any later
//! update or overwrite, makes it miss.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;
use zarrs::storage::StoreKey;

/// Entries kept across all arrays; each one is a chunk of at most [`MAX_BYTES`].
const MAX_ENTRIES: usize = 8;
const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

struct Entry {
    path: PathBuf,
    /// The array's metadata without its shape: same dtype, grid and codecs.
    layout: String,
    stamp: Stamp,
    bytes: Vec<u8>,
    /// The chunk as stored, when the writer kept it (see `blosc::encode_tail`).
    encoded: Option<Bytes>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn cache() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A chunk an append wrote: its path, decoded bytes and (if kept) stored bytes.
type Kept = (PathBuf, Vec<u8>, Option<Bytes>);

/// The cache as one append to one local array sees it.
pub struct TailCache {
    root: PathBuf,
    layout: String,
    kept: Mutex<Vec<Kept>>,
}

impl TailCache {
    /// For the array whose metadata is `meta`, with chunk keys relative to `root`.
    pub fn new(root: &Path, meta: &Value) -> Self {
        let mut layout = meta.clone();
        if let Some(m) = layout.as_object_mut() {
            m.remove("shape");
        }
        Self {
            root: root.to_path_buf(),
            layout: layout.to_string(),
            kept: Mutex::new(Vec::new()),
        }
    }

    fn path(&self, key: &StoreKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// The decoded chunk at `key` if this process wrote it last, `len` bytes long,
    /// and its encoding if that was kept.
    pub fn take(&self, key: &StoreKey, len: usize) -> Option<(Vec<u8>, Option<Bytes>)> {
        let path = self.path(key);
        let entry = {
            let mut entries = cache();
            let i = entries
                .iter()
                .position(|e| e.path == path && e.layout == self.layout)?;
            entries.remove(i)
        };
        (entry.bytes.len() == len && stamp(&path) == Some(entry.stamp))
            .then_some((entry.bytes, entry.encoded))
    }

    /// Remember the decoded bytes just written to `key` (and what was stored, if
    /// given), for [`TailCache::commit`].
    pub fn keep(&self, key: &StoreKey, bytes: Vec<u8>, encoded: Option<Bytes>) {
        if bytes.len() <= MAX_BYTES {
            let path = self.path(key);
            self.kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((path, bytes, encoded));
        }
    }

    /// After the save committed (and while its lock is still held): make what it
    /// wrote available to the next append, stamped with the files now in place.
    pub fn commit(self) {
        let kept = self.kept.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut entries = cache();
        for (path, bytes, encoded) in kept {
            entries.retain(|e| e.path != path);
            // A chunk equal to the fill value is erased, not written: nothing to stamp.
            if let Some(stamp) = stamp(&path) {
                entries.push(Entry {
                    path,
                    layout: self.layout.clone(),
                    stamp,
                    bytes,
                    encoded,
                });
            }
        }
        let excess = entries.len().saturating_sub(MAX_ENTRIES);
        entries.drain(..excess);
    }
}
