//! Object stores (S3, GCS, Azure) through the `object_store` crate, behind the
//! same sync storage traits zarrs writes through. Chunk PUTs are spawned onto the
//! shared I/O runtime and kept in flight (bounded by a semaphore) while rayon
//! encodes the next chunks; `flush` waits for them before a metadata commit.
//! Metadata commits are conditional (If-Match / If-None-Match); writers of one
//! dataset take turns through a lease object (`lease`); `backend` is the object
//! store's part in the commit protocol. Clients come from `store::cloud`.

mod backend;
mod lease;

#[cfg(test)]
pub(crate) use backend::container;
pub use backend::open;
pub use lease::{Abandoned, Lease};

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use zarrs::storage::{StorageError, StoreKey, StorePrefix};

use super::cloud::{runtime, CloudUrl, Settings};
use super::key_values::{zarrs_storage, KeyValues, StorageResult};
use crate::control::Control;
use crate::error::{Result, SaveError};

/// Default number of PUTs kept in flight by one save.
pub const DEFAULT_CONCURRENCY: usize = 32;

fn store_error(context: impl std::fmt::Display, err: object_store::Error) -> SaveError {
    SaveError::Store {
        message: format!("{context}: {err}"),
        os_code: None,
    }
}

fn storage_error(err: object_store::Error) -> StorageError {
    StorageError::Other(err.to_string())
}

/// The value at `path` and the version it was read at.
async fn get_with_version(
    store: &dyn ObjectStore,
    path: &Path,
) -> object_store::Result<(Bytes, UpdateVersion)> {
    let got = store.get_opts(path, GetOptions::default()).await?;
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    Ok((got.bytes().await?, version))
}

/// A prefix of one bucket, as zarrs storage.
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    inflight: Arc<Semaphore>,
    pending: Mutex<Vec<JoinHandle<std::result::Result<(), object_store::Error>>>>,
    control: Arc<Control>,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStorage({}/{})", self.store, self.prefix)
    }
}

/// The store version a metadata document was read at (for If-Match).
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

impl ObjectStorage {
    /// The bucket prefix `location` names, with the client `storage_options` configure.
    pub fn open(
        location: &str,
        storage_options: &std::collections::BTreeMap<String, String>,
        concurrency: usize,
        control: Arc<Control>,
    ) -> Result<Self> {
        let url = CloudUrl::parse(location)?;
        let store = Settings::parse(url.provider, storage_options)?.client(&url)?;
        Ok(Self::with_store(store, url.prefix, concurrency, control))
    }

    pub(crate) fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: String,
        concurrency: usize,
        control: Arc<Control>,
    ) -> Self {
        Self {
            store,
            prefix,
            inflight: Arc::new(Semaphore::new(concurrency.max(1))),
            pending: Mutex::new(Vec::new()),
            control,
        }
    }

    /// The same bucket, rooted at `sub` below this prefix.
    pub fn child(&self, sub: &str) -> Self {
        let prefix = [self.prefix.as_str(), sub]
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        Self {
            store: self.store.clone(),
            prefix,
            inflight: self.inflight.clone(),
            pending: Mutex::new(Vec::new()),
            control: self.control.clone(),
        }
    }

    fn path(&self, key: &str) -> Path {
        let key = key.trim_start_matches('/');
        if self.prefix.is_empty() {
            Path::from(key)
        } else if key.is_empty() {
            Path::from(self.prefix.as_str())
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Wait for every PUT spawned so far; the first failure wins.
    pub fn flush(&self) -> Result<()> {
        let handles: Vec<_> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        runtime().block_on(async {
            let mut first = None;
            for h in handles {
                let outcome = match h.await {
                    Ok(r) => r.map_err(|e| store_error("writing a chunk", e)),
                    Err(e) => Err(SaveError::Store {
                        message: format!("a chunk upload failed: {e}"),
                        os_code: None,
                    }),
                };
                if let (Err(e), None) = (outcome, &first) {
                    first = Some(e);
                }
            }
            first.map_or(Ok(()), Err)
        })
    }

    pub fn get_versioned(&self, key: &str) -> Result<Option<(Bytes, Version)>> {
        let path = self.path(key);
        runtime().block_on(async {
            match get_with_version(self.store.as_ref(), &path).await {
                Ok((bytes, UpdateVersion { e_tag, version })) => {
                    Ok(Some((bytes, Version { e_tag, version })))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(store_error(format!("reading {path}"), e)),
            }
        })
    }

    /// PUT `value` at `key` only if it is still at `expected` (`None`: only if absent).
    /// A lost race is a `Conflict`.
    pub fn put_if(&self, key: &str, value: Bytes, expected: Option<&Version>) -> Result<Version> {
        let path = self.path(key);
        let mode = match expected {
            Some(v) => PutMode::Update(UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
            None => PutMode::Create,
        };
        let len = value.len() as u64;
        let result = runtime().block_on(self.store.put_opts(
            &path,
            PutPayload::from(value),
            PutOptions::from(mode),
        ));
        match result {
            Ok(r) => {
                self.control.wrote(len);
                Ok(Version {
                    e_tag: r.e_tag,
                    version: r.version,
                })
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(SaveError::Conflict(format!(
                "{path} was changed by another writer while this save ran"
            ))),
            Err(e) => Err(store_error(format!("writing {path}"), e)),
        }
    }

    /// Delete one object (relative key); absent is fine.
    pub fn erase(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match runtime().block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(format!("deleting {path}"), e)),
        }
    }

    /// Every object under this prefix.
    fn list_all(&self) -> Result<Vec<Path>> {
        let root = self.path("");
        let listed: Vec<object_store::ObjectMeta> = runtime()
            .block_on(self.store.list(Some(&root)).try_collect())
            .map_err(|e| store_error(format!("listing {root}"), e))?;
        Ok(listed.into_iter().map(|m| m.location).collect())
    }

    /// Every key under this prefix (relative to it) whose last segment `wanted` accepts.
    pub fn list_keys(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        let root = self.path("");
        let base = format!("{root}/");
        Ok(self
            .list_all()?
            .into_iter()
            .filter_map(|location| {
                let full = location.to_string();
                let rel = if root.as_ref().is_empty() {
                    full
                } else {
                    full.strip_prefix(&base)?.to_string()
                };
                wanted(rel.rsplit('/').next().unwrap_or(&rel)).then_some(rel)
            })
            .collect())
    }

    /// Delete every object under this prefix except `keep` (keys relative to the prefix).
    pub fn erase_all_except(&self, keep: &[&str]) -> Result<()> {
        let keep: Vec<Path> = keep.iter().map(|k| self.path(k)).collect();
        for location in self.list_all()?.into_iter().filter(|p| !keep.contains(p)) {
            match runtime().block_on(self.store.delete(&location)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(format!("deleting {location}"), e)),
            }
        }
        Ok(())
    }
}

impl Version {
    /// The version as JSON, for a commit record.
    pub fn to_json(&self) -> Value {
        json!({"e_tag": self.e_tag, "version": self.version})
    }

    /// A version a commit record holds.
    pub fn from_json(value: &Value) -> Self {
        Self {
            e_tag: value["e_tag"].as_str().map(str::to_string),
            version: value["version"].as_str().map(str::to_string),
        }
    }
}

impl KeyValues for ObjectStorage {
    // Chunks are read whole (to patch them): ranges are sliced out of one GET.
    fn get_value(&self, key: &StoreKey) -> StorageResult<Option<Bytes>> {
        let value = self
            .get_versioned(key.as_str())
            .map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(value.map(|(bytes, _)| bytes))
    }

    fn value_size(&self, key: &StoreKey) -> StorageResult<Option<u64>> {
        let path = self.path(key.as_str());
        match runtime().block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// Spawn the PUT and return: rayon goes on encoding while up to `concurrency` uploads run.
    fn set_value(&self, key: &StoreKey, value: Bytes) -> StorageResult<()> {
        let permit = runtime()
            .block_on(self.inflight.clone().acquire_owned())
            .map_err(|e| StorageError::Other(e.to_string()))?;
        let (store, path, control) = (
            self.store.clone(),
            self.path(key.as_str()),
            self.control.clone(),
        );
        let handle = runtime().spawn(async move {
            let len = value.len() as u64;
            let result = store
                .put(&path, PutPayload::from(value))
                .await
                .map(|_| control.wrote(len));
            drop(permit);
            result
        });
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
        Ok(())
    }

    fn erase_value(&self, key: &StoreKey) -> StorageResult<()> {
        ObjectStorage::erase(self, key.as_str()).map_err(|e| StorageError::Other(e.to_string()))
    }

    fn erase_values(&self, prefix: &StorePrefix) -> StorageResult<()> {
        self.child(prefix.as_str().trim_end_matches('/'))
            .erase_all_except(&[])
            .map_err(|e| StorageError::Other(e.to_string()))
    }
}

zarrs_storage!(ObjectStorage);
