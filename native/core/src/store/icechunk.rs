//! Icechunk repositories: a save is one session on a branch, written through
//! zarrs_icechunk's store (zarrs' async storage over the session) and made visible
//! by one commit. Nothing a session writes is seen before its commit, and a session
//! that never commits leaves only unreferenced chunk objects behind.
//!
//! Local repositories: Icechunk's filesystem storage does not make concurrent
//! commits safe, so a writer holds an `flock` on the repository directory from
//! opening its session to its commit; commits never conflict. Object stores:
//! Icechunk's conditional branch update finds a concurrent commit; the session is
//! rebased over it, and when the two touched the same array metadata or chunks
//! (two appends always do) the save is run again from a fresh session.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use icechunk::conflicts::detector::ConflictDetector;
use icechunk::repository::RepositoryErrorKind;
use icechunk::session::SessionErrorKind;
use icechunk::{Repository, Storage};
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    AsyncReadableStorageTraits, AsyncWritableStorageTraits, Bytes, MaybeBytesIterator,
    OffsetBytesIterator, ReadableStorageTraits, ReadableWritableStorage, StorageError, StoreKey,
    StorePrefix, WritableStorageTraits,
};
use zarrs_icechunk::AsyncIcechunkStore;

use super::{local, object};
use crate::control::Control;
use crate::error::{Result, SaveError};

/// What `icechunk: { branch, message }` asks for.
#[derive(Debug, Clone)]
pub struct IcechunkOptions {
    /// The branch each save commits to.
    pub branch: String,
    /// The commit message; `None`: one describing the save.
    pub message: Option<String>,
}

impl Default for IcechunkOptions {
    fn default() -> Self {
        Self {
            branch: "main".into(),
            message: None,
        }
    }
}

/// Times a conflicting commit is rebased over the winner's before the save gives up
/// on this session.
const REBASE_ATTEMPTS: u16 = 5;

/// zarrs' sync storage over zarrs_icechunk's store, its futures run on the core's
/// I/O runtime from the encoding threads. Reads go through the store's whole-value
/// `get`, which reports a missing key (a chunk never written, a node not there
/// yet) as absent, as zarrs expects; its partial reads report it as an error.
/// Bytes written are counted on the save's `Control`, as the other stores do.
struct SessionStorage(Arc<AsyncIcechunkStore>, Arc<Control>);

fn block_on<F: core::future::Future>(future: F) -> F::Output {
    object::runtime().block_on(future)
}

impl ReadableStorageTraits for SessionStorage {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        let Some(bytes) = block_on(self.0.get(key))? else {
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
        Ok(block_on(self.0.get(key))?.map(|b| b.len() as u64))
    }

    fn supports_get_partial(&self) -> bool {
        false
    }
}

impl WritableStorageTraits for SessionStorage {
    fn set(&self, key: &StoreKey, value: Bytes) -> std::result::Result<(), StorageError> {
        let len = value.len() as u64;
        block_on(self.0.set(key, value))?;
        self.1.wrote(len);
        Ok(())
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> std::result::Result<(), StorageError> {
        block_on(self.0.set_partial_many(key, offset_values))
    }

    fn erase(&self, key: &StoreKey) -> std::result::Result<(), StorageError> {
        block_on(self.0.erase(key))
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> std::result::Result<(), StorageError> {
        block_on(self.0.erase_prefix(prefix))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

/// One save's session on a branch, and the lock that serialises local commits.
pub struct Session {
    store: Arc<AsyncIcechunkStore>,
    options: IcechunkOptions,
    /// What this save does, for the default commit message.
    description: Mutex<String>,
    /// The snapshot the commit made.
    snapshot: Mutex<Option<String>>,
    _lock: Option<local::DirLock>,
}

fn io_error(context: &str, e: impl std::fmt::Display) -> SaveError {
    SaveError::Store {
        message: format!("{context}: {e}"),
        os_code: None,
    }
}

impl Session {
    /// Open the repository at `location` (created if missing) and a writable session
    /// on the branch. Returns the session and the storage zarrs writes through.
    pub(super) fn open(
        location: &str,
        storage_options: &BTreeMap<String, String>,
        options: &IcechunkOptions,
        control: Arc<Control>,
    ) -> Result<(Arc<Self>, ReadableWritableStorage)> {
        let shown = super::redact(location);
        let local = !location.contains("://");
        // Locally, the lock comes first: the session must start from the last commit.
        let lock = if local {
            Some(lock_local(Path::new(location))?)
        } else {
            None
        };
        // Held in memory only: the options may hold credentials.
        let key = format!("{location}\u{0}{storage_options:?}");
        let open_fresh = || -> Result<Arc<Repository>> {
            let storage = if local {
                block_on(icechunk::new_local_filesystem_storage(Path::new(location)))
                    .map_err(|e| io_error(&format!("opening {shown}"), e.kind()))?
            } else {
                object_storage(location, storage_options)?
            };
            let repo = Arc::new(block_on(open_or_create(storage, &shown, local))?);
            repositories().insert(key.clone(), repo.clone());
            Ok(repo)
        };
        let branch = options.branch.as_str();
        let start = |repo: &Repository| {
            block_on(repo.writable_session(branch)).map_err(|e| {
                if is_missing_ref(e.kind()) {
                    SaveError::NotFound(format!(
                        "icechunk.branch '{branch}' does not exist in '{shown}'"
                    ))
                } else {
                    repository_error(&shown, e.kind())
                }
            })
        };
        let cached = repositories().get(&key);
        let session = match cached {
            // A repository this process opened before: unless it went away meanwhile
            // (then it is opened again), its session starts at once.
            Some(repo) => match start(&repo) {
                Err(SaveError::NotFound(m)) => return Err(SaveError::NotFound(m)),
                Err(_) => {
                    repositories().remove(&key);
                    start(open_fresh()?.as_ref())?
                }
                ok => ok?,
            },
            None => start(open_fresh()?.as_ref())?,
        };
        let store = Arc::new(AsyncIcechunkStore::new(session));
        let storage: ReadableWritableStorage = Arc::new(SessionStorage(store.clone(), control));
        Ok((
            Arc::new(Self {
                store,
                options: options.clone(),
                description: Mutex::new(String::new()),
                snapshot: Mutex::new(None),
                _lock: lock,
            }),
            storage,
        ))
    }

    /// Say what this save does (the commit message unless one was given).
    pub fn describe(&self, what: String) {
        *self.description.lock().unwrap_or_else(|e| e.into_inner()) = what;
    }

    /// Remove the node at `node` (an array with all its chunks, or a group with
    /// everything below it) from the session.
    pub(super) fn delete_node(&self, storage: &ReadableWritableStorage, node: &str) -> Result<()> {
        let key = StoreKey::new(format!("{node}/zarr.json"))
            .map_err(|e| SaveError::InvalidArgument(format!("invalid node '{node}': {e}")))?;
        WritableStorageTraits::erase(storage.as_ref(), &key)
            .map_err(|e| SaveError::store(format!("deleting '{node}'"), e))
    }

    /// Commit the session: the save's one visible step. A concurrent commit is
    /// rebased over when the two touched different nodes and chunks; otherwise the
    /// save has to run again (`Conflict`).
    pub(super) fn commit(&self) -> Result<()> {
        let message = match &self.options.message {
            Some(m) => m.clone(),
            None => self
                .description
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let session = self.store.session();
        let branch = self.options.branch.clone();
        let id = block_on(async move {
            let mut session = session.write().await;
            session
                .commit(message)
                .rebase(&ConflictDetector, REBASE_ATTEMPTS)
                .execute()
                .await
        });
        match id {
            Ok(id) => {
                *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.to_string());
                Ok(())
            }
            Err(e) => Err(match e.kind() {
                SessionErrorKind::Conflict { .. } | SessionErrorKind::RebaseFailed { .. } => {
                    SaveError::Conflict(format!(
                        "another writer committed to branch '{branch}' what this save changes too: {}",
                        e.kind()
                    ))
                }
                other => io_error(&format!("committing to branch '{branch}'"), other),
            }),
        }
    }

    /// The manifest entry of `chunk` of the array at `node` as this session sees it,
    /// for a chunk stored as an object of its own (not inline, not virtual): the same
    /// entry means the same bytes, since Icechunk never rewrites a chunk object.
    pub fn chunk_stamp(&self, node: &str, chunk: &[u64]) -> Option<String> {
        use icechunk::format::manifest::ChunkPayload;
        use icechunk::format::{ChunkIndices, Path};
        let path = Path::new(node).ok()?;
        let coords = ChunkIndices(
            chunk
                .iter()
                .map(|&c| u32::try_from(c).ok())
                .collect::<Option<_>>()?,
        );
        let session = self.store.session();
        let payload = block_on(async move {
            session
                .read()
                .await
                .get_chunk_ref(&path, &coords)
                .await
                .ok()
                .flatten()
        })?;
        match payload {
            ChunkPayload::Ref(r) => Some(format!("{} {} {}", r.id, r.offset, r.length)),
            _ => None,
        }
    }

    /// The snapshot id of the commit, once made.
    pub fn snapshot_id(&self) -> Option<String> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Open the repository, or create it. Writers that find none at once all try to
/// create it, and all but one fail: those open what the winner made, once it is
/// complete (locally the directory lock lets one writer in at a time).
async fn open_or_create(
    storage: Arc<dyn Storage + Send + Sync>,
    shown: &str,
    local: bool,
) -> Result<Repository> {
    let attempts: u32 = if local { 1 } else { 10 };
    let mut attempt = 1;
    loop {
        let exists = Repository::exists(storage.clone(), None)
            .await
            .map_err(|e| io_error(&format!("opening Icechunk repository '{shown}'"), e.kind()))?;
        let made = if exists {
            Repository::open(storage.clone()).execute().await
        } else {
            Repository::create(storage.clone()).execute().await
        };
        // Reopened with the writer's configuration: given to `create` it would be
        // persisted.
        let made = match made {
            Ok(repo) => {
                let config = writer_config(repo.config());
                repo.reopen(Some(config), None).await
            }
            err => err,
        };
        match made {
            Ok(repo) => return Ok(repo),
            Err(_) if !exists && attempt < attempts => {
                tokio::time::sleep(std::time::Duration::from_millis(30 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(repository_error(shown, e.kind())),
        }
    }
}

/// What a writer here changes of a repository's configuration (`persisted`), for
/// itself only (it is never saved):
/// - no manifest preloading, which serves readers of coordinate arrays and would cost
///   every writable session a scan of the snapshot with a regex built per array;
/// - without a splitting configuration of the repository's own, the default's
///   meaning (one manifest per array) said without its match-all regex, which would
///   be built again for every array of every commit.
fn writer_config(persisted: &icechunk::RepositoryConfig) -> icechunk::RepositoryConfig {
    use icechunk::config::{
        ManifestConfig, ManifestPreloadCondition, ManifestPreloadConfig, ManifestSplitCondition,
        ManifestSplitDim, ManifestSplitDimCondition, ManifestSplittingConfig,
    };
    let splitting = persisted
        .manifest
        .as_ref()
        .and_then(|m| m.splitting.as_ref())
        .is_none()
        .then(|| ManifestSplittingConfig {
            split_sizes: Some(vec![(
                ManifestSplitCondition::AnyArray,
                vec![ManifestSplitDim {
                    condition: ManifestSplitDimCondition::Any,
                    num_chunks: u32::MAX,
                }],
            )]),
        });
    icechunk::RepositoryConfig {
        manifest: Some(ManifestConfig {
            preload: Some(ManifestPreloadConfig {
                max_total_refs: Some(0),
                preload_if: Some(ManifestPreloadCondition::False),
                max_arrays_to_scan: None,
            }),
            splitting,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn is_missing_ref(kind: &RepositoryErrorKind) -> bool {
    matches!(
        kind,
        RepositoryErrorKind::Ref(icechunk::refs::RefErrorKind::RefNotFound(_))
    )
}

fn repository_error(shown: &str, kind: &RepositoryErrorKind) -> SaveError {
    match kind {
        RepositoryErrorKind::ParentDirectoryNotClean => SaveError::InvalidArgument(format!(
            "filePath '{shown}' holds files and is no Icechunk repository"
        )),
        other => io_error(&format!("opening Icechunk repository '{shown}'"), other),
    }
}

/// The lock on a local repository directory (made if missing), which this save
/// holds until it ends.
fn lock_local(dir: &Path) -> Result<local::DirLock> {
    let shown = dir.display().to_string();
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(SaveError::InvalidArgument(format!(
            "filePath '{shown}' exists and is not a directory"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| SaveError::store(format!("creating {shown}"), e))?;
    local::lock_dataset(dir, false)?.ok_or_else(|| {
        SaveError::store(
            format!("locking {shown}"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })
}

/// Repositories this process opened, by location and client options, kept so that
/// their caches of snapshots and manifests (which never change) serve every later
/// save. Each session still reads the branch tip afresh.
struct Repositories(Mutex<HashMap<String, Arc<Repository>>>);

fn repositories() -> &'static Repositories {
    static REPOS: OnceLock<Repositories> = OnceLock::new();
    REPOS.get_or_init(|| Repositories(Mutex::new(HashMap::new())))
}

impl Repositories {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Repository>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn get(&self, key: &str) -> Option<Arc<Repository>> {
        self.map().get(key).cloned()
    }
    fn insert(&self, key: String, repo: Arc<Repository>) {
        self.map().insert(key, repo);
    }
    fn remove(&self, key: &str) {
        self.map().remove(key);
    }
}

/// An object-store repository at `s3://`, `gs://` or `az://` `bucket/prefix`, with the
/// client options of `storageOptions`.
fn object_storage(
    location: &str,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn Storage + Send + Sync>> {
    let shown = super::redact(location);
    let url = url::Url::parse(location).map_err(|e| {
        SaveError::InvalidArgument(format!("filePath '{shown}' is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "s3" | "s3a" | "gs" | "gcs" | "az" | "azure") {
        return Err(SaveError::Unsupported(format!(
            "filePath '{shown}': Icechunk repositories are written locally or on \
             S3 (s3://), Google Cloud Storage (gs://) or Azure Blob Storage (az://)"
        )));
    }
    let bucket = url.host_str().unwrap_or_default().to_string();
    let prefix = url.path().trim_matches('/').to_string();
    if bucket.is_empty() || prefix.is_empty() {
        return Err(SaveError::InvalidArgument(format!(
            "filePath '{shown}' must name a bucket and a prefix inside it ({}://bucket/repo)",
            url.scheme()
        )));
    }
    let storage = match url.scheme() {
        "s3" | "s3a" => block_on(s3_storage(bucket, prefix, options)?),
        "gs" | "gcs" => gcs_storage(bucket, prefix, options)?,
        _ => block_on(azure_storage(bucket, prefix, options)?),
    };
    storage.map_err(|e| io_error(&format!("opening {shown}"), e.kind()))
}

type StorageResult = icechunk::storage::StorageResult<Arc<dyn Storage + Send + Sync>>;

/// Icechunk's S3 client, which takes the subset of options below (any other is refused).
fn s3_storage(
    bucket: String,
    prefix: String,
    options: &BTreeMap<String, String>,
) -> Result<impl core::future::Future<Output = StorageResult>> {
    use icechunk::storage::{S3Credentials, S3Options, S3StaticCredentials};
    let flag = |key: &str, value: &str| match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SaveError::InvalidArgument(format!(
            "storageOptions.{key} must be true or false"
        ))),
    };
    // As object_store reads the environment when no option says otherwise.
    let env_http = std::env::var("AWS_ALLOW_HTTP").ok();
    let mut config = S3Options::default();
    config.allow_http = env_http.is_some_and(|v| flag("allowHttp", &v).unwrap_or(false));
    let (mut key_id, mut secret, mut token) = (None, None, None);
    for (key, value) in options {
        match key.strip_prefix("aws_").unwrap_or(key) {
            "endpoint" | "endpoint_url" => config.endpoint_url = Some(value.clone()),
            "region" | "default_region" => config.region = Some(value.clone()),
            "access_key_id" => key_id = Some(value.clone()),
            "secret_access_key" => secret = Some(value.clone()),
            "session_token" | "token" => token = Some(value.clone()),
            "allow_http" => config.allow_http = flag(key, value)?,
            "skip_signature" => config.anonymous = flag(key, value)?,
            _ => {
                return Err(SaveError::InvalidArgument(format!(
                    "storageOptions: option '{key}' is not taken by an Icechunk repository on S3; \
                     it takes endpoint, region, access_key_id, secret_access_key, session_token, \
                     allow_http and skip_signature"
                )))
            }
        }
    }
    let credentials = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => {
            S3Credentials::Static(S3StaticCredentials {
                access_key_id,
                secret_access_key,
                session_token: token,
                expires_after: None,
            })
        }
        (None, None) if config.anonymous => S3Credentials::Anonymous,
        (None, None) => S3Credentials::FromEnv,
        _ => {
            return Err(SaveError::InvalidArgument(
                "storageOptions: accessKeyId and secretAccessKey go together".into(),
            ))
        }
    };
    Ok(icechunk::new_s3_object_store_storage(
        config,
        bucket,
        Some(prefix),
        Some(credentials),
        Vec::new(),
        Vec::new(),
    ))
}

/// Parsed client options as the names Icechunk's constructors parse again.
fn by_name<K: AsRef<str>>(config: Vec<(K, String)>) -> HashMap<String, String> {
    config
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_string(), v))
        .collect()
}

/// Icechunk's Azure client, configured as a plain `az://` save's client is: the
/// `AZURE_*` environment, then every option of `storageOptions` (the account name
/// among them, or `AZURE_STORAGE_ACCOUNT_NAME`).
fn azure_storage(
    container: String,
    prefix: String,
    options: &BTreeMap<String, String>,
) -> Result<impl core::future::Future<Output = StorageResult>> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let config = object::config_keys::<AzureConfigKey>(options, "azure_")?;
    let builder = config
        .iter()
        .fold(MicrosoftAzureBuilder::from_env(), |b, (k, v)| {
            b.with_config(*k, v.clone())
        });
    let account = builder
        .get_config_value(&AzureConfigKey::AccountName)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            SaveError::InvalidArgument(
                "storageOptions.accountName (or AZURE_STORAGE_ACCOUNT_NAME) must name the \
                 storage account of an az:// Icechunk repository"
                    .into(),
            )
        })?;
    Ok(icechunk::storage::new_azure_blob_storage(
        account,
        container,
        Some(prefix),
        None, // the environment, then `config`: as the plain client
        Some(by_name(config)),
    ))
}

/// Icechunk's GCS client, with the plain `gs://` client's options and its rule for
/// credentials: no token for `skipSignature` or an emulator's `baseUrl`, the given
/// ones as object_store reads them, and the metadata server only when nothing was
/// given, within a bound.
fn gcs_storage(
    bucket: String,
    prefix: String,
    options: &BTreeMap<String, String>,
) -> Result<StorageResult> {
    use icechunk::storage::{GcsBearerCredential, GcsCredentials, GcsStaticCredentials};
    use object::GcsCredentialSource;
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    let mut config = object::config_keys::<GoogleConfigKey>(options, "google_")?;
    let builder = config
        .iter()
        .fold(GoogleCloudStorageBuilder::from_env(), |b, (k, v)| {
            b.with_config(*k, v.clone())
        });
    let credentials = match object::gcs_credential_source(&builder) {
        GcsCredentialSource::None => {
            config.push((GoogleConfigKey::SkipSignature, "true".into()));
            GcsCredentials::Static(GcsStaticCredentials::BearerToken(GcsBearerCredential {
                bearer: String::new(),
                expires_after: None,
            }))
        }
        GcsCredentialSource::Given => GcsCredentials::FromEnv,
        GcsCredentialSource::MetadataServer => {
            GcsCredentials::Refreshable(Arc::new(MetadataServerToken::new(bucket.clone())))
        }
    };
    Ok(icechunk::storage::new_gcs_storage(
        bucket,
        Some(prefix),
        Some(credentials),
        Some(by_name(config)),
        Vec::new(),
        Vec::new(),
    ))
}

/// A GCS token from the metadata server, as a plain `gs://` save gets one when nothing
/// else was given: bounded in time, failing with the sources that were looked at.
/// (Icechunk asks for credentials through this serialisable trait.)
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct MetadataServerToken {
    bucket: String,
    /// Built on first use; it caches the token until it expires.
    #[serde(skip)]
    provider: OnceLock<object_store::gcp::GcpCredentialProvider>,
}

impl MetadataServerToken {
    fn new(bucket: String) -> Self {
        Self {
            bucket,
            provider: OnceLock::new(),
        }
    }
}

#[async_trait::async_trait]
#[typetag::serde(name = "zarr_saver_metadata_server_token")]
impl icechunk::storage::GcsCredentialsFetcher for MetadataServerToken {
    async fn get(&self) -> std::result::Result<icechunk::storage::GcsBearerCredential, String> {
        let provider = match self.provider.get() {
            Some(p) => p.clone(),
            None => {
                let builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&self.bucket);
                let p = object::metadata_server_credentials(builder).map_err(|e| e.to_string())?;
                self.provider.get_or_init(|| p).clone()
            }
        };
        let token = provider.get_credential().await.map_err(|e| match e {
            object_store::Error::Generic { source, .. } => source.to_string(),
            other => other.to_string(),
        })?;
        Ok(icechunk::storage::GcsBearerCredential {
            bearer: token.bearer.clone(),
            // None: asked again for every request, answered from the provider's cache
            expires_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::data::{Elements, NdData};
    use crate::dtype::DType;
    use crate::saver::{save, Approach, SaveRequest};
    use crate::selection::AxisSelection;

    fn f64s(values: &[f64], shape: Vec<u64>) -> NdData<'static> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NdData::new(
            Elements::Fixed {
                dtype: DType::Float64,
                bytes: Cow::Owned(bytes),
            },
            shape,
        )
        .unwrap()
    }

    fn request(repo: &std::path::Path, approach: Approach) -> SaveRequest {
        let mut req = SaveRequest::new(repo.display().to_string(), "a", approach);
        req.store.icechunk = Some(super::IcechunkOptions::default());
        req.threads = Some(1);
        req
    }

    #[test]
    fn each_save_is_a_commit_on_the_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let first = save(
            &request(&repo, Approach::Append),
            f64s(&[1.0, 2.0], vec![2]),
        )
        .unwrap();
        let second = save(&request(&repo, Approach::Append), f64s(&[3.0], vec![1])).unwrap();
        assert_eq!(second.shape, vec![3]);
        let mut update = request(&repo, Approach::Update);
        update.selection = Some(vec![AxisSelection::Index(0)]);
        let third = save(&update, f64s(&[9.0], vec![1])).unwrap();
        let ids = [first.snapshot_id, second.snapshot_id, third.snapshot_id];
        assert!(ids.iter().all(Option::is_some));
        assert!(ids[0] != ids[1] && ids[1] != ids[2]);
        // Only Zarr v3, and the request is refused before the repository is touched.
        let other = dir.path().join("other");
        let mut v2 = request(&other, Approach::Append);
        v2.create.zarr_format = 2;
        let err = save(&v2, f64s(&[1.0], vec![1])).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert!(!other.exists());
    }
}
