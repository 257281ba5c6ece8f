//! Where arrays live: a `Container` is the Zarr hierarchy at `filePath`, on local
//! disk or in an object store, offering zarrs storage plus the few operations the
//! write path needs beyond get/set: a writer lock per dataset, whole-array
//! replacement, versioned metadata reads and conditional commits.

pub mod local;
pub mod object;
mod opener;
pub mod reaper;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use zarrs::storage::{ReadableWritableStorage, StoreKey};

use crate::control::Control;
use crate::error::{Result, SaveError};

/// Temp files and directories start with this so readers can tell them apart.
pub const TEMP_PREFIX: &str = ".zarr-saver-tmp-";
/// Object-store writers of one dataset take turns through this key inside it.
const LEASE_KEY: &str = ".zarr-saver-lease";

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
}

#[derive(Clone)]
enum Backend {
    Local(PathBuf, Arc<local::AtomicFilesystemStore>),
    Object(Arc<object::ObjectBackend>),
}

/// The store version a metadata document was read at; commits check it.
#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    /// Local files: the dataset lock already excludes other writers.
    Local,
    Object(object::Version),
}

/// A held writer lock on one dataset.
pub enum WriterLock {
    Local(local::DirLock),
    Object(object::Lease),
}

/// A Zarr hierarchy (the `filePath`) opened for writing.
#[derive(Clone)]
pub struct Container {
    pub storage: ReadableWritableStorage,
    /// Identifies the container for in-process locks.
    pub id: String,
    backend: Backend,
    control: Arc<Control>,
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
        Self::local(root, control)
    }

    fn local(root: PathBuf, control: Arc<Control>) -> Result<Self> {
        let store = Arc::new(local::AtomicFilesystemStore::new(&root, control.clone())?);
        Ok(Self::over_local(root, store, control))
    }

    /// A container over a staging directory that only becomes visible whole.
    fn staging(root: PathBuf, control: Arc<Control>) -> Result<Self> {
        let store = Arc::new(local::AtomicFilesystemStore::staging(
            &root,
            control.clone(),
        )?);
        Ok(Self::over_local(root, store, control))
    }

    fn over_local(
        root: PathBuf,
        store: Arc<local::AtomicFilesystemStore>,
        control: Arc<Control>,
    ) -> Self {
        Self {
            storage: store.clone(),
            id: root.display().to_string(),
            backend: Backend::Local(root, store),
            control,
        }
    }

    fn object(backend: Arc<object::ObjectBackend>, id: String, control: Arc<Control>) -> Self {
        Self {
            storage: backend.clone(),
            id,
            backend: Backend::Object(backend),
            control,
        }
    }

    /// The directory of a local container (`None` for object stores).
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Local(root, _) => Some(root),
            Backend::Object(_) => None,
        }
    }

    /// Take the writer lock of `dataset`, for this and other processes (and, on object
    /// stores, other machines). With `create` false, a dataset that does not exist
    /// locally is reported as `None`.
    pub fn lock_dataset(&self, dataset: &str, create: bool) -> Result<Option<WriterLock>> {
        match &self.backend {
            Backend::Local(root, _) => {
                let dir = local::dataset_dir(root, dataset)?;
                Ok(local::lock_dir(&dir, create)?.map(WriterLock::Local))
            }
            Backend::Object(b) => Ok(Some(WriterLock::Object(
                b.lease(&format!("{dataset}/{LEASE_KEY}"))?,
            ))),
        }
    }

    /// Remove the dataset directory if a failed save left it empty.
    pub fn remove_if_empty(&self, dataset: &str) {
        if let Backend::Local(root, _) = &self.backend {
            let _ = std::fs::remove_dir(root.join(dataset));
        }
    }

    /// Replace `dataset` whole with what `write` puts into the container it is given
    /// (the new array at that container's root). Locally the swap is atomic; on an
    /// object store the old metadata goes first, then the old chunks, so no reader
    /// ever sees old metadata over new chunks.
    pub fn replace_dataset(
        &self,
        dataset: &str,
        write: impl FnOnce(&Container) -> Result<()>,
    ) -> Result<()> {
        match &self.backend {
            Backend::Local(root, _) => {
                let target = local::dataset_dir(root, dataset)?;
                local::replace_dir(&target, |staging| {
                    write(&Container::staging(
                        staging.to_path_buf(),
                        self.control.clone(),
                    )?)
                })
            }
            Backend::Object(b) => {
                let node = Arc::new(b.child(dataset));
                for meta in ["zarr.json", ".zarray", ".zattrs"] {
                    node.erase(meta)?;
                }
                node.erase_all_except(&[LEASE_KEY])?;
                write(&Container::object(
                    node,
                    format!("{}/{dataset}", self.id),
                    self.control.clone(),
                ))
            }
        }
    }

    /// Announce the keys a save is about to write: a local store starts creating their
    /// temp files in the background while the save encodes.
    pub fn prepare(&self, keys: Vec<StoreKey>) {
        if let Backend::Local(_, store) = &self.backend {
            store.prepare(&keys);
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
        }
    }

    /// After a failure: drop what was staged (locally nothing of it becomes visible;
    /// on object stores, wait for uploads already started so none lands later).
    pub fn discard(&self) {
        match &self.backend {
            Backend::Local(_, store) => store.discard(),
            Backend::Object(b) => {
                let _ = b.flush();
            }
        }
    }

    /// Read and parse a JSON document; `Ok(None)` when the key is absent.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>> {
        Ok(self.get_json_versioned(path)?.map(|(v, _)| v))
    }

    /// Read a JSON document with the version a later [`Container::commit_json`] checks.
    pub fn get_json_versioned(&self, path: &str) -> Result<Option<(Value, Version)>> {
        match &self.backend {
            Backend::Local(..) => {
                let bytes = self
                    .storage
                    .get(&key(path)?)
                    .map_err(|e| SaveError::store(format!("reading {path}"), e))?;
                bytes
                    .map(|b| Ok((parse_json(path, &b)?, Version::Local)))
                    .transpose()
            }
            Backend::Object(b) => b
                .get_versioned(path)?
                .map(|(bytes, v)| Ok((parse_json(path, &bytes)?, Version::Object(v))))
                .transpose(),
        }
    }

    /// Write a JSON document atomically, unconditionally.
    pub fn put_json(&self, path: &str, value: &Value) -> Result<()> {
        self.storage
            .set(&key(path)?, json_bytes(value))
            .map_err(|e| SaveError::store(format!("writing {path}"), e))?;
        self.flush()
    }

    /// The commit of a save: write `value` at `path` only if it is still at `expected`
    /// (`None`: only if absent). Chunks written earlier are flushed first.
    pub fn commit_json(&self, path: &str, value: &Value, expected: Option<&Version>) -> Result<()> {
        self.flush()?;
        match (&self.backend, expected) {
            (Backend::Object(b), Some(Version::Object(v))) => {
                b.put_if(path, json_bytes(value), Some(v)).map(|_| ())
            }
            (Backend::Object(b), None) => b.put_if(path, json_bytes(value), None).map(|_| ()),
            _ => self.put_json(path, value),
        }
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
