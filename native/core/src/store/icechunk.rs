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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use icechunk::conflicts::detector::ConflictDetector;
use icechunk::repository::RepositoryErrorKind;
use icechunk::session::SessionErrorKind;
use icechunk::{Repository, Storage};
use zarrs::storage::storage_adapter::async_to_sync::{
    AsyncToSyncBlockOn, AsyncToSyncStorageAdapter,
};
use zarrs::storage::{ReadableWritableStorage, StoreKey, WritableStorageTraits};
use zarrs_icechunk::AsyncIcechunkStore;

use super::{local, object};
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

/// Runs the store's futures on the core's I/O runtime, from the encoding threads.
pub(super) struct BlockOnIo;

impl AsyncToSyncBlockOn for BlockOnIo {
    fn block_on<F: core::future::Future>(&self, future: F) -> F::Output {
        object::runtime().block_on(future)
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
    ) -> Result<(Arc<Self>, ReadableWritableStorage)> {
        let shown = super::redact(location);
        let (storage, lock) = if location.contains("://") {
            (object_storage(location, storage_options)?, None)
        } else {
            let (storage, lock) = local_storage(Path::new(location))?;
            (storage, Some(lock))
        };
        let branch = options.branch.clone();
        let session = object::runtime().block_on(async move {
            let exists = Repository::exists(storage.clone(), None)
                .await
                .map_err(|e| io_error(&format!("opening Icechunk repository '{shown}'"), e.kind()))?;
            let repo = if exists {
                Repository::open(storage).execute().await
            } else {
                Repository::create(storage).execute().await
            }
            .map_err(|e| repository_error(&shown, e.kind()))?;
            match repo.writable_session(&branch).await {
                Ok(session) => Ok(session),
                Err(e) if is_missing_ref(e.kind()) => Err(SaveError::NotFound(format!(
                    "icechunk.branch '{branch}' does not exist in '{shown}'"
                ))),
                Err(e) => Err(repository_error(&shown, e.kind())),
            }
        })?;
        let store = Arc::new(AsyncIcechunkStore::new(session));
        let storage: ReadableWritableStorage =
            Arc::new(AsyncToSyncStorageAdapter::new(store.clone(), BlockOnIo));
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
        let id = object::runtime().block_on(async move {
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

    /// The snapshot id of the commit, once made.
    pub fn snapshot_id(&self) -> Option<String> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

/// A local repository directory, made if missing, and the lock on it that this
/// save holds until it ends. A directory that holds anything but a repository is
/// refused: a repository is never made on top of other files.
fn local_storage(dir: &Path) -> Result<(Arc<dyn Storage + Send + Sync>, local::DirLock)> {
    let shown = dir.display().to_string();
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(SaveError::InvalidArgument(format!(
            "filePath '{shown}' exists and is not a directory"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| SaveError::store(format!("creating {shown}"), e))?;
    let lock = local::lock_dataset(dir, false)?.ok_or_else(|| {
        SaveError::store(
            format!("locking {shown}"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    let path = PathBuf::from(dir);
    let storage = object::runtime()
        .block_on(icechunk::new_local_filesystem_storage(&path))
        .map_err(|e| io_error(&format!("opening {shown}"), e.kind()))?;
    Ok((storage, lock))
}

/// An object-store repository at `s3://bucket/prefix`, with the client options of
/// `storageOptions`.
fn object_storage(
    location: &str,
    _options: &BTreeMap<String, String>,
) -> Result<Arc<dyn Storage + Send + Sync>> {
    Err(SaveError::Unsupported(format!(
        "filePath '{}': Icechunk repositories on object stores are not supported yet",
        super::redact(location)
    )))
}
