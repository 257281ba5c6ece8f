//! Where arrays live: a `Container` is the Zarr hierarchy at `filePath`, on local
//! disk or in an object store, offering zarrs storage plus the few operations the
//! write path needs beyond get/set: versioned metadata reads and conditional
//! commits. A [`Transaction`] owns the protocol of one save on top of it.

#[cfg(feature = "icechunk")]
pub mod icechunk;
pub mod local;
pub mod object;
mod opener;
pub mod reaper;
pub mod temp;
mod transaction;

pub use temp::TEMP_PREFIX;
pub use transaction::{Doc, Interrupted, Transaction};

#[cfg(feature = "icechunk")]
pub use self::icechunk::IcechunkOptions;

/// Without the `icechunk` feature the option still parses, and a save that asks
/// for it is refused.
#[cfg(not(feature = "icechunk"))]
#[derive(Debug, Clone, Default)]
pub struct IcechunkOptions {
    pub branch: String,
    pub message: Option<String>,
}

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use zarrs::storage::{ReadableWritableStorage, StoreKey};

use crate::control::Control;
use crate::error::{Result, SaveError};

/// Object-store writers of one dataset take turns through this key inside it.
const LEASE_KEY: &str = ".zarr-saver-lease";
/// A group save on an object store records its commit here (in the group) first.
const COMMIT_RECORD: &str = ".zarr-saver-commit";

/// `location` fit for a message: any `user:password@` in a URL is masked.
pub fn redact(location: &str) -> String {
    match location.split_once("://") {
        Some((scheme, rest)) => match rest
            .split_once('/')
            .map_or(rest, |(authority, _)| authority)
            .rfind('@')
        {
            Some(at) => format!("{scheme}://***{}", &rest[at..]),
            None => location.to_string(),
        },
        None => location.to_string(),
    }
}

/// How to reach the container.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Object-store client options (snake_case keys; `aws_`/`google_`/`azure_` optional).
    pub storage_options: BTreeMap<String, String>,
    /// PUTs kept in flight per save on an object store.
    pub concurrency: Option<usize>,
    /// Sync what a save writes before it returns, so it survives a power cut
    /// (local disk; an object store's completed PUT is durable already).
    pub durable: bool,
    /// `filePath` is an Icechunk repository and a save is a commit on this branch.
    pub icechunk: Option<IcechunkOptions>,
}

#[derive(Clone)]
enum Backend {
    Local(PathBuf, Arc<local::AtomicFilesystemStore>),
    Object(Arc<object::ObjectBackend>),
    #[cfg(feature = "icechunk")]
    Icechunk(Arc<icechunk::Session>),
}

/// What identifies a chunk's stored bytes (see [`Container::chunk_stamp`]): while
/// the stamp is the same, so are the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkStamp {
    /// A local file: device, inode, size, modification and change times.
    File(local::FileStamp),
    /// An Icechunk manifest entry (chunk objects are never rewritten).
    Entry(String),
}

/// The store version a metadata document was read at; commits check it.
#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    /// Local files: the dataset lock already excludes other writers.
    Local,
    Object(object::Version),
    /// An Icechunk session reads one snapshot; a concurrent commit is found when
    /// this one commits.
    Snapshot,
}

/// A Zarr hierarchy (the `filePath`) opened for writing.
#[derive(Clone)]
pub struct Container {
    pub storage: ReadableWritableStorage,
    /// Identifies the container for in-process locks.
    pub id: String,
    backend: Backend,
    control: Arc<Control>,
    durable: bool,
}

pub(crate) fn key(path: &str) -> Result<StoreKey> {
    StoreKey::new(path.trim_start_matches('/'))
        .map_err(|e| SaveError::InvalidArgument(format!("invalid store key '{path}': {e}")))
}

/// A metadata document: valid JSON and an object (`0` or `[]` parse, yet are corrupt).
fn parse_json(path: &str, bytes: &[u8]) -> Result<Value> {
    match serde_json::from_slice(bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(SaveError::Corrupt(format!("{path} is not a JSON object"))),
        Err(e) => Err(SaveError::Corrupt(format!("{path} is not valid JSON: {e}"))),
    }
}

fn json_bytes(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes.into()
}

impl Container {
    /// Open `location`: a local directory path (the facade resolves `file://` and
    /// relative paths) or an `s3://`, `gs://`, `az://` URL. Every byte written
    /// through it is counted on `control`.
    pub fn open(location: &str, options: &StoreOptions, control: Arc<Control>) -> Result<Self> {
        if let Some(icechunk) = &options.icechunk {
            return Self::icechunk(location, options, icechunk, control);
        }
        if location.contains("://") {
            let concurrency = options.concurrency.unwrap_or(object::DEFAULT_CONCURRENCY);
            let backend = object::ObjectBackend::open(
                location,
                &options.storage_options,
                concurrency,
                control.clone(),
            )?;
            return Ok(Self::object(Arc::new(backend), redact(location), control));
        }
        let root = PathBuf::from(location);
        if std::fs::metadata(&root).is_ok_and(|m| !m.is_dir()) {
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{location}' exists and is not a directory"
            )));
        }
        Self::local(root, local::Mode::Atomic, options.durable, control)
    }

    /// A local container; `Mode::Direct` for a staging directory that only becomes
    /// visible whole.
    fn local(
        root: PathBuf,
        mode: local::Mode,
        durable: bool,
        control: Arc<Control>,
    ) -> Result<Self> {
        let store = Arc::new(local::AtomicFilesystemStore::new(
            &root,
            mode,
            durable,
            control.clone(),
        )?);
        Ok(Self {
            storage: store.clone(),
            id: root.display().to_string(),
            backend: Backend::Local(root, store),
            control,
            durable,
        })
    }

    fn object(backend: Arc<object::ObjectBackend>, id: String, control: Arc<Control>) -> Self {
        Self {
            storage: backend.clone(),
            id,
            backend: Backend::Object(backend),
            control,
            durable: false,
        }
    }

    #[cfg(feature = "icechunk")]
    fn icechunk(
        location: &str,
        options: &StoreOptions,
        icechunk: &IcechunkOptions,
        control: Arc<Control>,
    ) -> Result<Self> {
        let (session, storage) = icechunk::Session::open(
            location,
            &options.storage_options,
            icechunk,
            control.clone(),
        )?;
        Ok(Self {
            storage,
            id: redact(location),
            backend: Backend::Icechunk(session),
            control,
            durable: false,
        })
    }

    #[cfg(not(feature = "icechunk"))]
    fn icechunk(
        _location: &str,
        _options: &StoreOptions,
        _icechunk: &IcechunkOptions,
        _control: Arc<Control>,
    ) -> Result<Self> {
        Err(SaveError::Unsupported(
            "icechunk: this build of zarr-saver was made without Icechunk support".into(),
        ))
    }

    /// Whether `filePath` is an Icechunk repository: it lists its nodes itself, so
    /// nothing gets a consolidated copy, and it holds Zarr v3 only.
    pub fn is_icechunk(&self) -> bool {
        #[cfg(feature = "icechunk")]
        if let Backend::Icechunk(_) = self.backend {
            return true;
        }
        false
    }

    /// Say what the save does: an Icechunk commit's message unless one was given.
    pub fn describe(&self, _what: impl FnOnce() -> String) {
        #[cfg(feature = "icechunk")]
        if let Backend::Icechunk(s) = &self.backend {
            s.describe(_what());
        }
    }

    /// The snapshot the save committed, on an Icechunk repository.
    pub fn snapshot_id(&self) -> Option<String> {
        #[cfg(feature = "icechunk")]
        if let Backend::Icechunk(s) = &self.backend {
            return s.snapshot_id();
        }
        None
    }

    /// Put the metadata of an array this save creates or resizes before its chunks,
    /// where the store checks chunks against it (Icechunk, where it stays invisible
    /// until the commit). Elsewhere metadata is the commit point and waits for it.
    pub fn declare(&self, _path: &str, _meta: &Value) -> Result<()> {
        #[cfg(feature = "icechunk")]
        if let Backend::Icechunk(_) = self.backend {
            return self.put_json(_path, _meta);
        }
        Ok(())
    }

    /// What identifies the stored bytes of `chunk` (at `key`) of the array at `node`
    /// now: the chunk file's identity on local disk, its manifest entry in an Icechunk
    /// session. `None` for a chunk not stored, and on plain object stores, whose
    /// objects another writer may replace unseen.
    pub fn chunk_stamp(&self, key: &StoreKey, _node: &str, _chunk: &[u64]) -> Option<ChunkStamp> {
        match &self.backend {
            Backend::Local(root, _) => local::file_stamp(&root.join(key.as_str())),
            Backend::Object(_) => None,
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(s) => s.chunk_stamp(_node, _chunk).map(ChunkStamp::Entry),
        }
    }

    /// Whether chunks here have a [`ChunkStamp`].
    pub fn stamps_chunks(&self) -> bool {
        !matches!(self.backend, Backend::Object(_))
    }

    /// The directory of a local container (`None` for object stores).
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Local(root, _) => Some(root),
            _ => None,
        }
    }

    /// Every key in the container whose file name `wanted` accepts (temp names and
    /// links never), relative to its root.
    pub fn list_keys(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Local(root, _) => {
                let mut out = Vec::new();
                walk(root, "", &wanted, &mut out)
                    .map_err(|e| SaveError::store(format!("listing {}", root.display()), e))?;
                Ok(out)
            }
            Backend::Object(b) => b.list_keys(wanted),
            #[cfg(feature = "icechunk")]
            // Only a new consolidated copy lists keys, and repositories get none.
            Backend::Icechunk(_) => Err(SaveError::Unsupported(
                "an Icechunk repository gets no consolidated metadata".into(),
            )),
        }
    }

    /// Make every chunk written so far visible (locally: rename the staged files;
    /// object stores: wait for the uploads in flight).
    pub fn flush(&self) -> Result<()> {
        match &self.backend {
            Backend::Local(_, store) => store
                .commit()
                .map_err(|e| SaveError::store("committing chunks", e)),
            Backend::Object(b) => b.flush(),
            // The session holds what was written until its commit.
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(_) => Ok(()),
        }
    }

    /// Read and parse a JSON document; `Ok(None)` when the key is absent.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>> {
        Ok(self.get_json_versioned(path)?.map(|(v, _)| v))
    }

    /// Read a JSON document with the version a later conditional commit checks.
    pub fn get_json_versioned(&self, path: &str) -> Result<Option<(Value, Version)>> {
        let version = match &self.backend {
            Backend::Object(_) => None,
            Backend::Local(..) => Some(Version::Local),
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(_) => Some(Version::Snapshot),
        };
        match (&self.backend, version) {
            (_, Some(version)) => {
                let bytes = self
                    .storage
                    .get(&key(path)?)
                    .map_err(|e| SaveError::store(format!("reading {path}"), e))?;
                bytes
                    .map(|b| Ok((parse_json(path, &b)?, version)))
                    .transpose()
            }
            (Backend::Object(b), None) => b
                .get_versioned(path)?
                .map(|(bytes, v)| Ok((parse_json(path, &bytes)?, Version::Object(v))))
                .transpose(),
            _ => unreachable!("only object stores read object versions"),
        }
    }

    /// Write a JSON document atomically, unconditionally.
    pub fn put_json(&self, path: &str, value: &Value) -> Result<()> {
        self.storage
            .set(&key(path)?, json_bytes(value))
            .map_err(|e| SaveError::store(format!("writing {path}"), e))?;
        self.flush()
    }
}

fn walk(
    dir: &std::path::Path,
    prefix: &str,
    wanted: &impl Fn(&str) -> bool,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let kind = entry.file_type()?;
        let key = format!("{prefix}{name}");
        if kind.is_dir() {
            walk(&entry.path(), &format!("{key}/"), wanted, out)?;
        } else if kind.is_file() && wanted(&name) {
            out.push(key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_json, redact};
    use crate::error::SaveError;

    #[test]
    fn metadata_must_be_a_json_object() {
        assert!(parse_json("zarr.json", br#"{"zarr_format": 3}"#).is_ok());
        for bad in [&b"0"[..], b"[]", b"\"x\"", b"null", b"{"] {
            assert!(matches!(
                parse_json("zarr.json", bad),
                Err(SaveError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn redact_masks_url_credentials_only() {
        assert_eq!(
            redact("s3://KEY:secret@bucket/p.zarr"),
            "s3://***@bucket/p.zarr"
        );
        assert_eq!(redact("s3://bucket/a@b"), "s3://bucket/a@b");
        assert_eq!(redact("/tmp/x@y"), "/tmp/x@y");
    }
}
