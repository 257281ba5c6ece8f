//! Writers of one dataset on an object store take turns through a lease object,
//! created with If-None-Match, renewed while the save runs, and taken over once it
//! expires (a writer that crashed). A group save's leases name where it records its
//! commit, so that whoever takes one over finishes that commit.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{get_with_version, store_error, ObjectStorage};
use crate::error::{Result, SaveError};
use crate::store::cloud::runtime;

/// A writer's lease on a dataset lasts this long unless renewed.
pub(crate) const LEASE: Duration = Duration::from_secs(30);
/// How long a writer waits for another's lease before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(300);

impl ObjectStorage {
    /// Take the writer lease at `key` for `owner`, waiting for another writer's lease
    /// to end or expire. `record` names where this writer records a commit of several
    /// documents before making it (a group save); whoever takes the lease over after
    /// a crash learns it from the lease and finishes that commit.
    pub fn lease(
        &self,
        key: &str,
        owner: &str,
        record: Option<&str>,
    ) -> Result<(Lease, Option<Abandoned>)> {
        let path = self.path(key);
        let store = self.store.clone();
        let body = {
            let (owner, record) = (owner.to_string(), record.map(str::to_string));
            move || {
                let until = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    + LEASE;
                let mut doc = json!({"owner": owner, "expires_ms": until.as_millis() as u64});
                if let Some(record) = &record {
                    doc["record"] = json!(record);
                }
                Bytes::from(doc.to_string())
            }
        };
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(20);
        let (version, abandoned) = runtime().block_on(async {
            loop {
                let create = PutOptions::from(PutMode::Create);
                match store
                    .put_opts(&path, PutPayload::from(body()), create)
                    .await
                {
                    Ok(r) => return Ok((UpdateVersion::from(r), None)),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => {}
                    Err(e) => {
                        return Err(store_error(format!("taking the writer lease {path}"), e))
                    }
                }
                // Someone holds it: take it over if their lease ran out (a crashed writer).
                if let Ok((held, version)) = get_with_version(store.as_ref(), &path).await {
                    let held = serde_json::from_slice::<Value>(&held).unwrap_or(Value::Null);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis() as u64;
                    if held["expires_ms"].as_u64().is_some_and(|t| t < now) {
                        let update = PutOptions::from(PutMode::Update(version));
                        if let Ok(r) = store
                            .put_opts(&path, PutPayload::from(body()), update)
                            .await
                        {
                            let abandoned = match (held["owner"].as_str(), held["record"].as_str())
                            {
                                (Some(owner), Some(record)) => Some(Abandoned {
                                    owner: owner.to_string(),
                                    record: record.to_string(),
                                }),
                                _ => None,
                            };
                            return Ok((UpdateVersion::from(r), abandoned));
                        }
                    }
                }
                if started.elapsed() > LOCK_WAIT {
                    return Err(SaveError::Conflict(format!(
                        "another writer held {path} for more than {} s",
                        LOCK_WAIT.as_secs()
                    )));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
        })?;
        // Renew while the save runs, so a long save keeps its turn.
        let renew = {
            let (store, path) = (store.clone(), path.clone());
            runtime().spawn(async move {
                let mut version = version;
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    let update = PutOptions::from(PutMode::Update(version.clone()));
                    match store
                        .put_opts(&path, PutPayload::from(body()), update)
                        .await
                    {
                        Ok(r) => version = UpdateVersion::from(r),
                        Err(_) => return,
                    }
                }
            })
        };
        let lease = Lease {
            store,
            path,
            renew,
            release: true,
        };
        Ok((lease, abandoned))
    }
}

/// A lease taken over from a writer that is gone, which may have recorded a commit
/// it did not finish.
#[derive(Debug, Clone, PartialEq)]
pub struct Abandoned {
    /// The gone writer's owner id, which its record carries.
    pub owner: String,
    /// Where its record would be (a key of this store).
    pub record: String,
}

/// A writer's turn on a dataset; released (deleted) on drop.
pub struct Lease {
    store: Arc<dyn ObjectStore>,
    path: Path,
    renew: JoinHandle<()>,
    release: bool,
}

impl Lease {
    /// Leave the lease to run out instead of releasing it: a commit this writer
    /// recorded is unfinished, and the writer that takes the lease over finishes it.
    pub fn abandon(&mut self) {
        self.release = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        if !self.release {
            return;
        }
        let (store, path) = (self.store.clone(), self.path.clone());
        let _ = runtime().block_on(async move { store.delete(&path).await });
    }
}
