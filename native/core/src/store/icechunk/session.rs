//! One save's session on a branch, the zarrs storage its writes go through, and
//! its commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use icechunk::conflicts::detector::ConflictDetector;
use icechunk::session::SessionErrorKind;
use icechunk::Repository;
use zarrs::storage::{
    AsyncReadableStorageTraits, AsyncWritableStorageTraits, Bytes, OffsetBytesIterator,
    ReadableWritableStorage, StoreKey, StorePrefix, WritableStorageTraits,
};
use zarrs_icechunk::AsyncIcechunkStore;

use super::repository::{
    is_missing_ref, lock_local, open_or_create, repositories, repository_error,
};
use super::{block_on, io_error, storage, IcechunkOptions};
use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::store::key_values::{zarrs_storage, KeyValues, StorageResult};
use crate::store::local;

/// Times a conflicting commit is rebased over the winner's before the save gives up
/// on this session.
const REBASE_ATTEMPTS: u16 = 5;

/// zarrs' sync storage over zarrs_icechunk's store, its futures run on the core's
/// I/O runtime from the encoding threads. Reads go through the store's whole-value
/// `get`, which reports a missing key (a chunk never written, a node not there
/// yet) as absent, as zarrs expects; its partial reads report it as an error.
/// Bytes written are counted on the save's `Control`, as the other stores do.
struct SessionStorage(Arc<AsyncIcechunkStore>, Arc<Control>);

impl KeyValues for SessionStorage {
    fn get_value(&self, key: &StoreKey) -> StorageResult<Option<Bytes>> {
        block_on(self.0.get(key))
    }

    fn value_size(&self, key: &StoreKey) -> StorageResult<Option<u64>> {
        Ok(self.get_value(key)?.map(|b| b.len() as u64))
    }

    fn set_value(&self, key: &StoreKey, value: Bytes) -> StorageResult<()> {
        let len = value.len() as u64;
        block_on(self.0.set(key, value))?;
        self.1.wrote(len);
        Ok(())
    }

    fn set_ranges(&self, key: &StoreKey, values: OffsetBytesIterator) -> StorageResult<()> {
        block_on(self.0.set_partial_many(key, values))
    }

    fn erase_value(&self, key: &StoreKey) -> StorageResult<()> {
        block_on(self.0.erase(key))
    }

    fn erase_values(&self, prefix: &StorePrefix) -> StorageResult<()> {
        block_on(self.0.erase_prefix(prefix))
    }
}

zarrs_storage!(SessionStorage);

/// One save's session on a branch, and the lock that serialises local commits.
pub struct Session {
    store: Arc<AsyncIcechunkStore>,
    options: IcechunkOptions,
    _lock: Option<local::DirLock>,
}

impl Session {
    /// Open the repository at `location` (created if missing) and a writable session
    /// on the branch. Returns the session and the storage zarrs writes through.
    pub(super) fn start(
        location: &str,
        storage_options: &BTreeMap<String, String>,
        options: &IcechunkOptions,
        control: Arc<Control>,
    ) -> Result<(Arc<Self>, ReadableWritableStorage)> {
        let shown = crate::store::redact(location);
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
                storage::object_storage(location, storage_options)?
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
        Ok(Self::wrap(session, options, control, lock))
    }

    /// A session on the branch of `repo` (a repository in memory, in tests).
    #[cfg(test)]
    pub(super) fn on(
        repo: &Repository,
        options: &IcechunkOptions,
        control: Arc<Control>,
    ) -> Result<(Arc<Self>, ReadableWritableStorage)> {
        let session = block_on(repo.writable_session(&options.branch))
            .map_err(|e| repository_error("memory", e.kind()))?;
        Ok(Self::wrap(session, options, control, None))
    }

    fn wrap(
        session: icechunk::session::Session,
        options: &IcechunkOptions,
        control: Arc<Control>,
        lock: Option<local::DirLock>,
    ) -> (Arc<Self>, ReadableWritableStorage) {
        let store = Arc::new(AsyncIcechunkStore::new(session));
        let storage: ReadableWritableStorage = Arc::new(SessionStorage(store.clone(), control));
        let session = Self {
            store,
            options: options.clone(),
            _lock: lock,
        };
        (Arc::new(session), storage)
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
    /// save has to run again (`Conflict`). `what` (what the save does) is the
    /// message unless one was given. Returns the snapshot id.
    pub(super) fn commit(&self, what: &str) -> Result<String> {
        let message = self.options.message.clone().unwrap_or_else(|| what.into());
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
            Ok(id) => Ok(id.to_string()),
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
}
