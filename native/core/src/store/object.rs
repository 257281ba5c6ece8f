//! Object stores (S3, GCS, Azure) through the `object_store` crate, behind the
//! same sync storage traits zarrs writes through. Chunk PUTs are spawned onto a
//! shared Tokio runtime and kept in flight (bounded by a semaphore) while rayon
//! encodes the next chunks; `flush` waits for them before a metadata commit.
//! Metadata commits are conditional (If-Match / If-None-Match), and writers of one
//! dataset take turns through a lease object created with If-None-Match.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
    StorePrefix, WritableStorageTraits,
};

use crate::control::Control;
use crate::error::{Result, SaveError};

/// One runtime for all object-store I/O: its threads only wait on sockets.
pub(super) fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zarr-saver-io")
            .enable_all()
            .build()
            .expect("a Tokio runtime starts")
    })
}

/// Default number of PUTs kept in flight by one save.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// A writer's lease on a dataset lasts this long unless renewed.
const LEASE: Duration = Duration::from_secs(30);
/// How long a writer waits for another's lease before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(300);

fn store_error(context: impl std::fmt::Display, err: object_store::Error) -> SaveError {
    SaveError::Store {
        message: format!("{context}: {err}"),
        os_code: None,
    }
}

fn storage_error(err: object_store::Error) -> StorageError {
    StorageError::Other(err.to_string())
}

/// `options` (already snake_case) parsed as one provider's config keys, a key either
/// as given or with the provider's `prefix` (`aws_`, `google_`, `azure_`) left off;
/// with the client timeouts every save gets unless given.
pub(super) fn config_keys<K: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    prefix: &str,
) -> Result<Vec<(K, String)>> {
    // Timeouts go in as config keys: `with_client_options` would drop the client
    // settings `from_env` read (AWS_ALLOW_HTTP, ...).
    let mut options = options.clone();
    options
        .entry("connect_timeout".into())
        .or_insert_with(|| "5s".into());
    options
        .entry("timeout".into())
        .or_insert_with(|| "60s".into());
    options
        .into_iter()
        .map(|(key, value)| {
            let parsed = key
                .parse()
                .or_else(|_| format!("{prefix}{key}").parse())
                .map_err(|_| {
                    SaveError::InvalidArgument(format!("storageOptions: unknown option '{key}'"))
                })?;
            Ok((parsed, value))
        })
        .collect()
}

/// Build the client for `url` from `options` (already snake_case; `aws_` may be left off)
/// on top of the usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
fn build_client(
    url: &url::Url,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn ObjectStore>> {
    use object_store::RetryConfig;
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let invalid =
        |e: object_store::Error| SaveError::InvalidArgument(format!("storageOptions: {e}"));
    macro_rules! configure {
        ($builder:expr, $key_type:ty, $prefix:literal, $finish:expr) => {{
            let mut b = $builder.with_url(url.as_str()).with_retry(retry);
            for (key, value) in config_keys::<$key_type>(options, $prefix)? {
                b = b.with_config(key, value);
            }
            Arc::new($finish(b)?.build().map_err(invalid)?) as Arc<dyn ObjectStore>
        }};
    }
    Ok(match url.scheme() {
        "s3" | "s3a" => configure!(
            object_store::aws::AmazonS3Builder::from_env(),
            object_store::aws::AmazonS3ConfigKey,
            "aws_",
            Ok::<_, SaveError>
        ),
        "gs" | "gcs" => configure!(
            object_store::gcp::GoogleCloudStorageBuilder::from_env(),
            object_store::gcp::GoogleConfigKey,
            "google_",
            |b| gcs_credentials(b).map_err(invalid)
        ),
        "az" | "abfs" | "azure" => configure!(
            object_store::azure::MicrosoftAzureBuilder::from_env(),
            object_store::azure::AzureConfigKey,
            "azure_",
            Ok::<_, SaveError>
        ),
        other => {
            return Err(SaveError::Unsupported(format!(
                "filePath: the '{other}://' store cannot be written"
            )))
        }
    })
}

/// How long a `gs://` save waits for the metadata server's token when it is the only
/// credential source left: on a cloud VM it answers in milliseconds, elsewhere the
/// request would otherwise hang until the connection and retry timeouts run out.
const METADATA_WAIT: Duration = Duration::from_secs(5);

/// Where a GCS client takes its token from, chosen so that it asks the metadata
/// server only when nothing else was given:
///
/// - `skip_signature`, or a `base_url` (an emulator, a proxy) with no credentials:
///   [`GcsCredentialSource::None`].
/// - a service account (path or key), `application_credentials`, a `bearer_token` (from
///   storageOptions or `GOOGLE_*` variables) or gcloud's application-default file:
///   [`GcsCredentialSource::Given`], object_store's own handling.
/// - nothing: [`GcsCredentialSource::MetadataServer`], bounded by [`METADATA_WAIT`] and
///   failing with the list of the sources that were looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GcsCredentialSource {
    None,
    Given,
    MetadataServer,
}

/// The credential source of a GCS client `builder` would build.
pub(super) fn gcs_credential_source(
    builder: &object_store::gcp::GoogleCloudStorageBuilder,
) -> GcsCredentialSource {
    use object_store::gcp::GoogleConfigKey as Key;
    let set = |key: Key| {
        builder
            .get_config_value(&key)
            .is_some_and(|v| !v.is_empty())
    };
    let skip = builder
        .get_config_value(&Key::SkipSignature)
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "y" | "on"
            )
        });
    let given = [
        Key::ServiceAccount,
        Key::ServiceAccountKey,
        Key::ApplicationCredentials,
        Key::BearerToken,
    ]
    .into_iter()
    .any(set)
        || gcloud_default_credentials_file().is_some_and(|p| p.exists());
    if skip || (!given && set(Key::BaseUrl)) {
        GcsCredentialSource::None
    } else if given {
        GcsCredentialSource::Given
    } else {
        GcsCredentialSource::MetadataServer
    }
}

/// The GCS client's credentials by [`gcs_credential_source`]. With no token at all,
/// object_store's GCS client still fetches one for writes even with `skip_signature`,
/// so an empty bearer (as its `disable_oauth` keys do) is set.
fn gcs_credentials(
    builder: object_store::gcp::GoogleCloudStorageBuilder,
) -> std::result::Result<object_store::gcp::GoogleCloudStorageBuilder, object_store::Error> {
    use object_store::gcp::GcpCredential;
    use object_store::StaticCredentialProvider;
    Ok(match gcs_credential_source(&builder) {
        GcsCredentialSource::None => {
            let anonymous = StaticCredentialProvider::new(GcpCredential {
                bearer: String::new(),
            });
            builder
                .with_skip_signature(true)
                .with_credentials(Arc::new(anonymous))
        }
        GcsCredentialSource::Given => builder,
        GcsCredentialSource::MetadataServer => {
            let provider = metadata_server_credentials(builder.clone())?;
            builder.with_credentials(provider)
        }
    })
}

/// The token provider object_store would use for `builder` when nothing was given (the
/// metadata server), bounded by [`METADATA_WAIT`], with an error that says where else
/// credentials could have come from.
pub(super) fn metadata_server_credentials(
    builder: object_store::gcp::GoogleCloudStorageBuilder,
) -> std::result::Result<object_store::gcp::GcpCredentialProvider, object_store::Error> {
    let inner = builder.build()?.credentials().clone();
    Ok(Arc::new(MetadataServerCredentials { inner }))
}

/// gcloud's application-default credentials file, which object_store reads when present.
fn gcloud_default_credentials_file() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(std::path::Path::new(&home).join(".config/gcloud/application_default_credentials.json"))
}

/// The metadata server's token, or within [`METADATA_WAIT`] an error naming every
/// credential source that was tried.
#[derive(Debug)]
struct MetadataServerCredentials {
    inner: object_store::gcp::GcpCredentialProvider,
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for MetadataServerCredentials {
    type Credential = object_store::gcp::GcpCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<Self::Credential>> {
        let why = match tokio::time::timeout(METADATA_WAIT, self.inner.get_credential()).await {
            Ok(Ok(credential)) => return Ok(credential),
            Ok(Err(object_store::Error::Generic { source, .. })) => source.to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", METADATA_WAIT.as_secs()),
        };
        Err(object_store::Error::Generic {
            store: "GCS",
            source: format!(
                "no Google Cloud credentials: none in storageOptions (serviceAccount, \
                 serviceAccountKey, applicationCredentials, bearerToken, skipSignature, baseUrl), \
                 none in GOOGLE_* environment variables, no gcloud application-default file \
                 (~/.config/gcloud/application_default_credentials.json), and the metadata \
                 server (metadata.google.internal, 169.254.169.254) gave no token: {why}"
            )
            .into(),
        })
    }
}

/// A prefix of one bucket, as zarrs storage.
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    inflight: Arc<Semaphore>,
    pending: Mutex<Vec<JoinHandle<std::result::Result<(), object_store::Error>>>>,
    control: Arc<Control>,
}

impl std::fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectBackend({}/{})", self.store, self.prefix)
    }
}

/// The store version a metadata document was read at (for If-Match).
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

impl ObjectBackend {
    pub fn open(
        location: &str,
        options: &BTreeMap<String, String>,
        concurrency: usize,
        control: Arc<Control>,
    ) -> Result<Self> {
        let url = url::Url::parse(location).map_err(|e| {
            SaveError::InvalidArgument(format!(
                "filePath '{}' is not a valid URL: {e}",
                super::redact(location)
            ))
        })?;
        let store = build_client(&url, options)?;
        let prefix = url.path().trim_matches('/').to_string();
        Ok(Self::with_store(store, prefix, concurrency, control))
    }

    fn with_store(
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
            match self.store.get_opts(&path, GetOptions::default()).await {
                Ok(r) => {
                    let version = Version {
                        e_tag: r.meta.e_tag.clone(),
                        version: r.meta.version.clone(),
                    };
                    let bytes = r
                        .bytes()
                        .await
                        .map_err(|e| store_error(format!("reading {path}"), e))?;
                    Ok(Some((bytes, version)))
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

    /// Every key under this prefix (relative to it) whose last segment `wanted` accepts.
    pub fn list_keys(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<String>> {
        let root = self.path("");
        let base = format!("{root}/");
        runtime().block_on(async {
            let listed: Vec<_> = self
                .store
                .list(Some(&root))
                .try_collect()
                .await
                .map_err(|e| store_error(format!("listing {root}"), e))?;
            Ok(listed
                .into_iter()
                .filter_map(|m| {
                    let full = m.location.to_string();
                    let rel = if root.as_ref().is_empty() {
                        full
                    } else {
                        full.strip_prefix(&base)?.to_string()
                    };
                    wanted(rel.rsplit('/').next().unwrap_or(&rel)).then_some(rel)
                })
                .collect())
        })
    }

    /// Delete every object under this prefix except `keep` (keys relative to the prefix).
    pub fn erase_all_except(&self, keep: &[&str]) -> Result<()> {
        let root = self.path("");
        let keep: Vec<Path> = keep.iter().map(|k| self.path(k)).collect();
        runtime().block_on(async {
            let listed: Vec<_> = self
                .store
                .list(Some(&root))
                .try_collect()
                .await
                .map_err(|e| store_error(format!("listing {root}"), e))?;
            for meta in listed.into_iter().filter(|m| !keep.contains(&m.location)) {
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(store_error(format!("deleting {}", meta.location), e)),
                }
            }
            Ok(())
        })
    }

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
                if let Ok(held) = store.get_opts(&path, GetOptions::default()).await {
                    let version = UpdateVersion {
                        e_tag: held.meta.e_tag.clone(),
                        version: held.meta.version.clone(),
                    };
                    let held = held
                        .bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .unwrap_or(Value::Null);
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

impl ReadableStorageTraits for ObjectBackend {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        // Chunks are read whole (to patch them); slice ranges out of one GET.
        let Some((bytes, _)) = self
            .get_versioned(key.as_str())
            .map_err(|e| StorageError::Other(e.to_string()))?
        else {
            return Ok(None);
        };
        let len = bytes.len() as u64;
        let out: Vec<std::result::Result<Bytes, StorageError>> = byte_ranges
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
        Ok(Some(Box::new(out.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        let path = self.path(key.as_str());
        match runtime().block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    fn supports_get_partial(&self) -> bool {
        false
    }
}

impl WritableStorageTraits for ObjectBackend {
    /// Spawn the PUT and return: rayon goes on encoding while up to `concurrency` uploads run.
    fn set(&self, key: &StoreKey, value: Bytes) -> std::result::Result<(), StorageError> {
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

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> std::result::Result<(), StorageError> {
        Err(StorageError::Unsupported(format!(
            "partial writes to {key} are not possible on an object store"
        )))
    }

    fn erase(&self, key: &StoreKey) -> std::result::Result<(), StorageError> {
        ObjectBackend::erase(self, key.as_str()).map_err(|e| StorageError::Other(e.to_string()))
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> std::result::Result<(), StorageError> {
        self.child(prefix.as_str().trim_end_matches('/'))
            .erase_all_except(&[])
            .map_err(|e| StorageError::Other(e.to_string()))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}
