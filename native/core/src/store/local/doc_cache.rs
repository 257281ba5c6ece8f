//! Metadata documents this process last read or wrote, kept with the stamp of the
//! file they came from. Every save reads its array's `zarr.json` and the groups'
//! above it (for consolidated copies): opening, reading and parsing each costs five
//! system calls, where one `lstat` tells whether the file is still the very one
//! read before. A file replaced by any writer (a rename of a new file into place),
//! or written again, has another stamp, and is read again.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::platform::{file_stamp, open_file_stamp, FileStamp};

/// Documents kept across all containers, and the largest one kept.
const MAX_ENTRIES: usize = 64;
const MAX_BYTES: usize = 1 << 20;

struct Entry {
    path: PathBuf,
    stamp: FileStamp,
    bytes: Vec<u8>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn cache() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

fn keep(path: &Path, stamp: FileStamp, bytes: &[u8]) {
    if bytes.len() > MAX_BYTES {
        return;
    }
    let mut cache = cache();
    cache.retain(|e| e.path != path);
    if cache.len() >= MAX_ENTRIES {
        cache.remove(0);
    }
    cache.push(Entry {
        path: path.to_path_buf(),
        stamp,
        bytes: bytes.to_vec(),
    });
}

/// The bytes of the file at `path` (`None`: there is none): from the cache when the
/// file is still the one they came from, else read (and kept).
pub fn read(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    if let Some(now) = file_stamp(path) {
        let cache = cache();
        if let Some(e) = cache.iter().find(|e| e.path == path && e.stamp == now) {
            return Ok(Some(e.bytes.clone()));
        }
    }
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    // The stamp of the file read, from its descriptor: what a later lstat must find.
    if let Some(stamp) = open_file_stamp(&file) {
        keep(path, stamp, &bytes);
    }
    Ok(Some(bytes))
}

/// Note that this process just published `bytes` at `path` (under the writer lock,
/// so the file there is the one it renamed into place).
pub fn wrote(path: &Path, bytes: &[u8]) {
    match file_stamp(path) {
        Some(stamp) => keep(path, stamp, bytes),
        None => forget(path),
    }
}

/// Drop what is kept for `path`.
pub fn forget(path: &Path) {
    cache().retain(|e| e.path != path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_rewritten_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zarr.json");
        assert_eq!(read(&path).unwrap(), None);
        std::fs::write(&path, b"{\"a\": 1}").unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), b"{\"a\": 1}");
        // Another file renamed into place, same size.
        let other = dir.path().join("other");
        std::fs::write(&other, b"{\"a\": 2}").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), b"{\"a\": 2}");
        // What this process wrote is what it reads back.
        std::fs::write(&other, b"{\"a\": 3}").unwrap();
        std::fs::rename(&other, &path).unwrap();
        wrote(&path, b"{\"a\": 3}");
        assert_eq!(read(&path).unwrap().unwrap(), b"{\"a\": 3}");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }
}
