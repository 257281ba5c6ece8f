//! Where arrays live: a [`Container`] is the Zarr hierarchy at `filePath` (a local
//! directory, an object-store prefix, or an Icechunk repository), offering zarrs
//! storage plus the few operations the write path needs beyond get/set: versioned
//! metadata reads, and the commit protocol of a [`Transaction`], whose steps each
//! store kind implements once as its [`CommitBackend`] in its own folder. URLs,
//! options and credentials of the clouds are `cloud`'s.

mod backend;
pub mod cloud;
#[cfg(test)]
mod conformance;
#[cfg(feature = "icechunk")]
pub mod icechunk;
pub(crate) mod key_values;
pub mod local;
pub mod object;
mod record;
mod transaction;
pub(crate) mod writer;

pub use backend::{
    After, CommitBackend, DocRef, Fill, GroupDocs, Locked, NewNode, Publication, Scope,
};
pub use local::temp::TEMP_PREFIX;
pub use local::LOCK_PREFIX;
pub use record::Interrupted;
pub use transaction::{Doc, Transaction};

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
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use zarrs::storage::{ReadableWritableStorage, StoreKey};

use crate::control::Control;
use crate::error::{Result, SaveError};

/// Object-store writers of one dataset take turns through this key inside it.
pub(crate) const LEASE_KEY: &str = ".zarr-saver-lease";
/// A group save on an object store records its commit here (in the group) first.
pub(crate) const COMMIT_RECORD: &str = ".zarr-saver-commit";

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

/// A Zarr hierarchy (the `filePath`) opened for one save.
#[derive(Clone)]
pub struct Container {
    pub storage: ReadableWritableStorage,
    /// Identifies the container for in-process locks.
    pub id: String,
    backend: Arc<dyn CommitBackend>,
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

pub(crate) fn json_bytes(value: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes.into()
}

impl Container {
    /// Open `location`: a local directory path (the facade resolves `file://` and
    /// relative paths), an object-store URL (see `cloud::SCHEMES`), or with
    /// `options.icechunk` an Icechunk repository at either. Every byte written
    /// through it is counted on `control`.
    pub fn open(location: &str, options: &StoreOptions, control: Arc<Control>) -> Result<Self> {
        if let Some(icechunk) = &options.icechunk {
            return Self::icechunk(location, options, icechunk, control);
        }
        if location.contains("://") {
            return object::open(location, options, control);
        }
        local::open(location, options.durable, control)
    }

    /// A container over `storage`, committed through `backend`.
    pub(crate) fn new(
        storage: ReadableWritableStorage,
        id: String,
        backend: Arc<dyn CommitBackend>,
    ) -> Self {
        Self {
            storage,
            id,
            backend,
        }
    }

    #[cfg(feature = "icechunk")]
    fn icechunk(
        location: &str,
        options: &StoreOptions,
        icechunk: &IcechunkOptions,
        control: Arc<Control>,
    ) -> Result<Self> {
        icechunk::open(location, &options.storage_options, icechunk, control)
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

    /// The store kind's part in the commit protocol.
    pub fn backend(&self) -> &dyn CommitBackend {
        self.backend.as_ref()
    }

    /// Whether the store lists its nodes itself and holds Zarr v3 only (an Icechunk
    /// repository): nothing gets consolidated metadata there.
    pub fn lists_nodes(&self) -> bool {
        self.backend.lists_nodes()
    }

    /// See [`CommitBackend::declare`].
    pub fn declare(&self, path: &str, meta: &Value) -> Result<()> {
        self.backend.declare(self, path, meta)
    }

    /// What identifies the stored bytes of `chunk` (at `key`) of the array at `node`
    /// now; `None` for a chunk not stored, or a store whose objects another writer
    /// may replace unseen.
    pub fn chunk_stamp(&self, key: &StoreKey, node: &str, chunk: &[u64]) -> Option<ChunkStamp> {
        self.backend.chunk_stamp(key, node, chunk)
    }

    /// Whether chunks here have a [`ChunkStamp`].
    pub fn stamps_chunks(&self) -> bool {
        self.backend.stamps_chunks()
    }

    /// Every key in the container whose file name `wanted` accepts (temp names and
    /// links never), relative to its root.
    pub fn list_keys(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        self.backend.list_keys(&wanted)
    }

    /// Make every chunk written so far visible (locally: rename the staged files;
    /// object stores: wait for the uploads in flight).
    pub fn flush(&self) -> Result<()> {
        self.backend.flush()
    }

    /// Read and parse a JSON document; `Ok(None)` when the key is absent.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>> {
        Ok(self.get_json_versioned(path)?.map(|(v, _)| v))
    }

    /// Read a JSON document with the version a later conditional commit checks.
    pub fn get_json_versioned(&self, path: &str) -> Result<Option<(Value, Version)>> {
        self.backend
            .get_versioned(self, path)?
            .map(|(bytes, version)| Ok((parse_json(path, &bytes)?, version)))
            .transpose()
    }

    /// Write a JSON document atomically, unconditionally.
    pub fn put_json(&self, path: &str, value: &Value) -> Result<()> {
        self.stage_json(path, value)?;
        self.flush()
    }

    /// Stage a JSON document; [`Container::flush`] publishes it.
    pub(crate) fn stage_json(&self, path: &str, value: &Value) -> Result<()> {
        self.storage
            .set(&key(path)?, json_bytes(value))
            .map_err(|e| SaveError::store(format!("writing {path}"), e))
    }

    /// The bytes at `path` as the storage reads them (`None`: absent).
    #[cfg(feature = "icechunk")]
    pub(crate) fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .storage
            .get(&key(path)?)
            .map_err(|e| SaveError::store(format!("reading {path}"), e))?
            .map(|b| b.to_vec()))
    }
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
