//! The commit protocol of one save, for every approach and both store kinds.
//!
//! 1. [`Transaction::begin`] takes the dataset's writer lock (an `flock` locally, a
//!    lease object on object stores) and creates nothing: a missing local dataset is
//!    locked through the nearest directory above it that exists. Locally, debris a
//!    writer that is gone left behind is removed here, under the lock.
//! 2. The caller reads what it needs and validates everything before it writes.
//! 3. Writes are staged: chunk files under temp names (local) or uploads in flight
//!    (object stores); a new array is built whole in a staging directory.
//! 4. [`Transaction::commit`] publishes chunks first, then the metadata, which is
//!    the commit point; with `durable` every step is synced before the next.
//!    A group save on an object store records its documents first
//!    ([`Transaction::record`]): should it die mid-commit, whoever takes over one of
//!    its leases finishes the commit ([`Transaction::finish`]).
//! 5. Dropped without a commit (an error, an abort), the transaction discards what
//!    it staged and removes the directories it made: the dataset is as it was.
//!
//! Every local save makes its first temp file in the dataset directory (the
//! metadata's temp, or a marker): a writer that crashes leaves that sign where
//! the next writer's one `readdir` finds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use zarrs::storage::StoreKey;

use crate::error::{Result, SaveError};

use super::{
    json_bytes, key, local, object, temp, Backend, Container, Version, COMMIT_RECORD, LEASE_KEY,
};

/// The writer lock a transaction holds until it ends.
enum WriterLock {
    Local(local::DirLock),
    Object(object::Lease),
    /// An object-store update whose chunks no other writer touches: see
    /// [`Transaction::begin_exclusive_chunks`].
    None,
    /// An Icechunk session needs none of its own: the session is isolated until its
    /// commit, and a local repository's lock is held by the session.
    #[cfg(feature = "icechunk")]
    Session,
}

impl WriterLock {
    /// See [`object::Lease::abandon`].
    fn abandon(&mut self) {
        if let WriterLock::Object(lease) = self {
            lease.abandon();
        }
    }
}

/// A document written with a commit: its key, JSON, and (object stores) the version
/// it must still be at.
pub type Doc = (String, Value, Version);

/// A commit of several documents that a writer now gone recorded (object stores)
/// and may not have finished.
pub struct Interrupted {
    /// Where the record is.
    key: String,
    /// Each document with the version its writer read it at.
    docs: Vec<Doc>,
    /// The arrays the commit was for.
    pub nodes: Vec<String>,
    pub zarr_format: u32,
}

impl Interrupted {
    fn parse(key: &str, record: &Value) -> Result<Self> {
        let corrupt = || SaveError::Corrupt(format!("the commit record {key} is unreadable"));
        let docs = record["docs"]
            .as_array()
            .ok_or_else(corrupt)?
            .iter()
            .map(|d| {
                let path = d["key"].as_str().ok_or_else(corrupt)?;
                Ok((
                    path.to_string(),
                    d["value"].clone(),
                    Version::Object(object::Version::from_json(&d["version"])),
                ))
            })
            .collect::<Result<Vec<Doc>>>()?;
        let nodes = record["nodes"]
            .as_array()
            .ok_or_else(corrupt)?
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(corrupt))
            .collect::<Result<Vec<_>>>()?;
        let zarr_format = record["zarr_format"].as_u64().ok_or_else(corrupt)? as u32;
        Ok(Self {
            key: key.to_string(),
            docs,
            nodes,
            zarr_format,
        })
    }
}

/// One save's writes to one dataset: staged, then published, or discarded.
pub struct Transaction<'c> {
    container: &'c Container,
    dataset: String,
    /// Local: the dataset's directory.
    dir: Option<PathBuf>,
    lock: WriterLock,
    /// A group save: the locks of its arrays, taken before the group's.
    array_locks: Vec<WriterLock>,
    /// This writer's id in its leases and commit record (object stores).
    owner: String,
    /// Object stores: leases taken over from writers that are gone.
    abandoned: Vec<object::Abandoned>,
    /// A group save on an object store: where it records its commit before making it.
    record: Option<String>,
    /// That record is written (and, once committed, removed).
    recorded: bool,
    /// Local: locks on groups whose consolidated copies this save rewrites.
    group_locks: Vec<(PathBuf, local::DirLock)>,
    /// A writer that is gone left debris here, now removed.
    recovered: bool,
    committed: bool,
}

impl<'c> Transaction<'c> {
    /// Take the writer lock of `dataset`. With `create` false, a dataset that does
    /// not exist locally is `None` (nothing to lock, nothing made).
    pub fn begin(container: &'c Container, dataset: &str, create: bool) -> Result<Option<Self>> {
        let mut recovered = false;
        let owner = temp::unique_id();
        let mut abandoned = Vec::new();
        let (lock, dir) = match &container.backend {
            Backend::Local(root, _) => {
                let dir = local::dataset_dir(root, dataset)?;
                let Some(lock) = local::lock_dataset(&dir, create)? else {
                    return Ok(None);
                };
                if lock.missing_top.is_none() && temp::has_debris(&dir) {
                    temp::remove_debris(&dir);
                    temp::remove_debris_beside(&dir);
                    recovered = true;
                }
                (WriterLock::Local(lock), Some(dir))
            }
            Backend::Object(b) => {
                let (lease, gone) = b.lease(&format!("{dataset}/{LEASE_KEY}"), &owner, None)?;
                abandoned.extend(gone);
                (WriterLock::Object(lease), None)
            }
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(_) => (WriterLock::Session, None),
        };
        Ok(Some(Self {
            container,
            dataset: dataset.to_string(),
            dir,
            lock,
            array_locks: Vec::new(),
            owner,
            abandoned,
            record: None,
            recorded: false,
            group_locks: Vec::new(),
            recovered,
            committed: false,
        }))
    }

    /// A transaction on an object store without the dataset's lease, for an update
    /// whose caller guarantees that no other writer writes its chunks (chunk-aligned,
    /// disjoint writes, such as the jobs of a TaskManager's queue run). Each chunk is
    /// one atomic PUT and such an update commits no metadata, so nothing needs the
    /// lease; `None` for a local dataset, which keeps its lock (its recovery of a
    /// crashed writer's temp files judges writers by pid, which needs the lock
    /// between writers of several machines).
    pub fn begin_exclusive_chunks(container: &'c Container, dataset: &str) -> Option<Self> {
        match &container.backend {
            Backend::Object(_) => Some(Self {
                container,
                dataset: dataset.to_string(),
                dir: None,
                lock: WriterLock::None,
                array_locks: Vec::new(),
                owner: temp::unique_id(),
                abandoned: Vec::new(),
                record: None,
                recorded: false,
                group_locks: Vec::new(),
                recovered: false,
                committed: false,
            }),
            _ => None,
        }
    }

    /// Take the writer locks of the arrays `names` of `group` (those that exist, in
    /// name order), then the group's own lock (a missing group: through the nearest
    /// directory above it, with `create`): the order every writer takes them in, a
    /// dataset's before its groups'. `None` when the group is missing and `create` is
    /// false. Debris of a writer that is gone is removed from each array first.
    pub fn begin_group(
        container: &'c Container,
        group: &str,
        names: &[String],
        create: bool,
    ) -> Result<Option<Self>> {
        let node = |name: &str| {
            if group.is_empty() {
                name.to_string()
            } else {
                format!("{group}/{name}")
            }
        };
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        let mut array_locks = Vec::new();
        let mut recovered = false;
        let owner = temp::unique_id();
        let mut abandoned = Vec::new();
        let record = if group.is_empty() {
            COMMIT_RECORD.to_string()
        } else {
            format!("{group}/{COMMIT_RECORD}")
        };
        let (lock, dir) = match &container.backend {
            Backend::Local(root, _) => {
                for name in &sorted {
                    let dir = local::dataset_dir(root, &node(name))?;
                    if let Some(lock) = local::lock_dataset(&dir, false)? {
                        if temp::has_debris(&dir) {
                            temp::remove_debris(&dir);
                            temp::remove_debris_beside(&dir);
                            recovered = true;
                        }
                        array_locks.push(WriterLock::Local(lock));
                    }
                }
                let dir = if group.is_empty() {
                    root.clone()
                } else {
                    local::dataset_dir(root, group)?
                };
                let Some(lock) = local::lock_dataset(&dir, create)? else {
                    return Ok(None);
                };
                (WriterLock::Local(lock), Some(dir))
            }
            Backend::Object(b) => {
                // Every lease names the record, so that whoever takes any of them over
                // after a crash finishes the commit.
                let mut take = |key: &str| -> Result<object::Lease> {
                    let (lease, gone) = b.lease(key, &owner, Some(&record))?;
                    abandoned.extend(gone);
                    Ok(lease)
                };
                for name in &sorted {
                    array_locks.push(WriterLock::Object(take(&format!(
                        "{}/{LEASE_KEY}",
                        node(name)
                    ))?));
                }
                let lease = if group.is_empty() {
                    LEASE_KEY.to_string()
                } else {
                    format!("{group}/{LEASE_KEY}")
                };
                (WriterLock::Object(take(&lease)?), None)
            }
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(_) => (WriterLock::Session, None),
        };
        Ok(Some(Self {
            container,
            dataset: group.to_string(),
            dir,
            lock,
            array_locks,
            owner,
            abandoned,
            record: Some(record),
            recorded: false,
            group_locks: Vec::new(),
            recovered,
            committed: false,
        }))
    }

    /// Whether the node this transaction locked does not exist yet (locally; on
    /// object stores nothing is known without reading).
    pub fn missing(&self) -> bool {
        matches!(&self.lock, WriterLock::Local(lock) if lock.missing_top.is_some())
    }

    /// Whether a writer that crashed here was cleaned up after: its commit may have
    /// published the dataset's metadata and not the consolidated copies above it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// Lock the groups at `groups` (paths from the container's root, deepest first:
    /// every writer takes group locks in that order, after its dataset's) against other
    /// writers of their documents, for the rest of the transaction. Locally only;
    /// object stores commit group documents conditionally instead.
    pub fn lock_groups(&mut self, groups: &[String]) -> Result<()> {
        let (Backend::Local(root, _), WriterLock::Local(held)) =
            (&self.container.backend, &self.lock)
        else {
            return Ok(());
        };
        // The directory this transaction's own lock is on.
        let held_dir = match &held.missing_top {
            Some(top) => top.parent().map(Path::to_path_buf),
            None => self.dir.clone(),
        };
        for group in groups {
            let dir = if group.is_empty() {
                root.clone()
            } else {
                root.join(group)
            };
            if held_dir.as_ref() == Some(&dir) || self.group_locks.iter().any(|(d, _)| d == &dir) {
                continue;
            }
            if let Some(lock) = local::lock_dataset(&dir, false)? {
                self.group_locks.push((dir, lock));
            }
        }
        Ok(())
    }

    /// The container the transaction writes through.
    pub fn container(&self) -> &Container {
        self.container
    }

    /// Announce the keys this save will write: locally their temp files get made in
    /// the background while the save encodes, the first one before any other.
    pub fn prepare(&self, keys: Vec<StoreKey>) {
        if let Backend::Local(_, store) = &self.container.backend {
            store.prepare(&keys);
        }
    }

    /// Leave this save's sign in the dataset directory before it writes anything
    /// else, for a save that writes no metadata there (update, overwrite).
    pub fn mark(&self, what: &str) -> Result<()> {
        self.mark_at(&self.dataset, what)
    }

    /// [`Transaction::mark`] in the directory of `node` (an array of a group save).
    pub fn mark_at(&self, node: &str, what: &str) -> Result<()> {
        if self.dir.is_some() {
            self.prepare(vec![key(&format!("{node}/{what}"))?]);
        }
        Ok(())
    }

    /// Write a whole new array in place of whatever is at the dataset (nothing, an
    /// old array, a crashed create's debris), with the group documents `groups`
    /// (key and JSON) its ancestors lack. `fill` gets the container to write the
    /// array into and the array's path inside it.
    ///
    /// Locally the new array (and every missing directory above it) is built in a
    /// staging directory and appears in one rename or exchange: readers and crashes
    /// see the old array or the new one. On an object store the old metadata goes
    /// first, then the old chunks, so no reader ever sees old metadata over new chunks.
    pub fn create(
        &mut self,
        groups: &[(String, Value)],
        fill: impl FnOnce(&Container, &str) -> Result<()>,
    ) -> Result<()> {
        let node = self.dataset.clone();
        self.create_at(&node, groups, fill)
    }

    /// [`Transaction::create`] of the node at `node` (the dataset, the group of a
    /// group save, or one of its arrays).
    pub fn create_at(
        &mut self,
        node: &str,
        groups: &[(String, Value)],
        fill: impl FnOnce(&Container, &str) -> Result<()>,
    ) -> Result<()> {
        let c = self.container;
        match (&c.backend, &self.lock) {
            (Backend::Local(root, _), WriterLock::Local(lock)) => {
                let dir = local::dataset_dir(root, node)?;
                // The whole missing part of the tree appears at once, above `node` too.
                let top = match &lock.missing_top {
                    Some(top) if dir.starts_with(top) => top.clone(),
                    _ => dir.clone(),
                };
                temp::remove_debris_beside(&top);
                let (outside, inside): (Vec<_>, Vec<_>) = groups
                    .iter()
                    .partition(|(k, _)| !root.join(k).starts_with(&top));
                for (k, doc) in &outside {
                    c.stage_json(k, doc)?;
                }
                c.flush()?;
                let durable = c.durable;
                let published = local::publish_dir(&top, durable, |staging| {
                    let sc = Container::local(
                        staging.to_path_buf(),
                        local::Mode::Direct,
                        durable,
                        c.control.clone(),
                    )?;
                    for (k, doc) in &inside {
                        sc.put_json(&relative(&root.join(k), &top), doc)?;
                    }
                    fill(&sc, &relative(&dir, &top))
                });
                if published.is_err() {
                    c.rollback();
                }
                published
            }
            (Backend::Object(b), _) => {
                for (k, doc) in groups {
                    c.put_json(k, doc)?;
                }
                let child = Arc::new(b.child(node));
                for meta in ["zarr.json", ".zarray", ".zattrs"] {
                    child.erase(meta)?;
                }
                child.erase_all_except(&[LEASE_KEY])?;
                let staged =
                    Container::object(child, format!("{}/{node}", c.id), c.control.clone());
                fill(&staged, "")?;
                staged.flush()
            }
            // The session shows nothing before the commit: the old node goes and the
            // new one is written in place. Icechunk checks chunks against the metadata
            // in the session, which `fill` declares first.
            #[cfg(feature = "icechunk")]
            (Backend::Icechunk(session), _) => {
                session.delete_node(&c.storage, node)?;
                for (k, doc) in groups {
                    c.put_json(k, doc)?;
                }
                fill(c, node)
            }
            _ => unreachable!("the lock matches the backend"),
        }?;
        self.committed = true;
        Ok(())
    }

    /// Publish the staged chunks, then (if given) the metadata document at `path`
    /// (only if it is still at `expected` on an object store), then the documents
    /// `after` computes (consolidated copies, read under the group locks). Locally
    /// all of them are staged before the first rename, and a failure puts back what
    /// the save had published. On an object store each document after is written
    /// only if unchanged since `after` read it; a lost race reads it again. The lock
    /// is held until the transaction is dropped, so what the caller records about the
    /// files it published (the tail cache) cannot be about another writer's.
    pub fn commit(
        &mut self,
        metadata: Option<(&str, &Value, &Version)>,
        after: impl Fn(&Container) -> Result<Vec<Doc>>,
    ) -> Result<()> {
        let c = self.container;
        c.flush()?;
        let committed = match &c.backend {
            Backend::Local(..) => (|| {
                let docs = after(c)?;
                if let Some((path, value, _)) = metadata {
                    c.stage_json(path, value)?;
                }
                for (path, value, _) in &docs {
                    c.stage_json(path, value)?;
                }
                c.flush()
            })(),
            Backend::Object(b) => (|| {
                if let Some((path, value, expected)) = metadata {
                    let Version::Object(v) = expected else {
                        unreachable!("object stores read object versions")
                    };
                    b.put_if(path, json_bytes(value), Some(v))?;
                }
                commit_conditionally(b, || after(c))
            })(),
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(session) => (|| {
                if let Some((path, value, _)) = metadata {
                    c.put_json(path, value)?;
                }
                for (path, value, _) in after(c)? {
                    c.put_json(&path, &value)?;
                }
                session.commit()
            })(),
        };
        if let Err(e) = committed {
            c.rollback();
            return Err(e);
        }
        self.committed = true;
        if let (Backend::Object(b), Some(record), true) = (&c.backend, &self.record, self.recorded)
        {
            // Committed whole: a record left behind is harmless (only its writer's
            // lapsed lease leads to it), so a failed delete does not fail the save.
            let _ = b.erase(record);
        }
        Ok(())
    }

    /// Object stores: record `docs` (each with the version it must still be at) before
    /// the commit writes the first of them, where whoever takes over one of this save's
    /// leases after a crash finds it and finishes the commit. The chunks land first, so
    /// a recorded commit is only metadata away. Locally nothing: a crash there is
    /// recovered from the consolidated copy.
    pub fn record(&mut self, docs: &[Doc], nodes: &[String], zarr_format: u32) -> Result<()> {
        let (Backend::Object(_), Some(key)) = (&self.container.backend, &self.record) else {
            return Ok(());
        };
        self.container.flush()?;
        let docs: Vec<Value> = docs
            .iter()
            .map(|(path, value, version)| {
                let version = match version {
                    Version::Object(v) => v.to_json(),
                    _ => Value::Null,
                };
                json!({"key": path, "value": value, "version": version})
            })
            .collect();
        let record = json!({
            "owner": self.owner,
            "zarr_format": zarr_format,
            "nodes": nodes,
            "docs": docs,
        });
        self.recorded = true;
        self.container.put_json(key, &record)
    }

    /// Object stores: the commits that the writers whose leases this transaction took
    /// over recorded and may not have finished.
    pub fn interrupted(&mut self) -> Result<Vec<Interrupted>> {
        let mut out: Vec<Interrupted> = Vec::new();
        let mut seen: Vec<object::Abandoned> = Vec::new();
        for gone in std::mem::take(&mut self.abandoned) {
            if seen.contains(&gone) {
                continue;
            }
            let Some(record) = self.container.get_json(&gone.record)? else {
                continue;
            };
            // Not the gone writer's: a later writer finished it and is making its own.
            if record["owner"].as_str() == Some(gone.owner.as_str()) {
                out.push(Interrupted::parse(&gone.record, &record)?);
            }
            seen.push(gone);
        }
        Ok(out)
    }

    /// Finish `commit`: each document it recorded is written if still at the version
    /// its writer read (otherwise it was written already, or a later commit moved it
    /// on), then the documents `after` computes, conditionally; then the record goes.
    pub fn finish(
        &self,
        commit: &Interrupted,
        after: impl Fn(&Container) -> Result<Vec<Doc>>,
    ) -> Result<()> {
        let Backend::Object(b) = &self.container.backend else {
            return Ok(());
        };
        for (path, value, version) in &commit.docs {
            let Version::Object(v) = version else {
                continue;
            };
            match b.put_if(path, json_bytes(value), Some(v)) {
                Ok(_) | Err(SaveError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        commit_conditionally(b, || after(self.container))?;
        b.erase(&commit.key)
    }
}

/// Rewrite each document `docs` computes only if nobody changed it since it was read;
/// when somebody did, read and compute again (a few times, then `Conflict`).
fn commit_conditionally(
    b: &object::ObjectBackend,
    docs: impl Fn() -> Result<Vec<Doc>>,
) -> Result<()> {
    const ATTEMPTS: usize = 8;
    // A document written stays written: a retry only redoes the ones that lost.
    let mut written: Vec<String> = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let mut lost = false;
        for (path, value, version) in docs()? {
            if written.contains(&path) {
                continue;
            }
            let expected = match &version {
                Version::Object(v) => Some(v),
                Version::Local | Version::Snapshot => None,
            };
            match b.put_if(&path, json_bytes(&value), expected) {
                Ok(_) => written.push(path),
                Err(SaveError::Conflict(_)) if attempt < ATTEMPTS => {
                    lost = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !lost {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10 * attempt as u64));
    }
    Ok(())
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.committed {
            if self.recorded {
                // A recorded commit failed part way: the leases lapse instead of going,
                // and the writer that takes one over finishes the commit.
                self.lock.abandon();
                self.array_locks.iter_mut().for_each(WriterLock::abandon);
            }
            self.container.discard();
        }
    }
}

/// `path` relative to `base` (an ancestor), as a store key.
fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

impl Container {
    /// Stage a JSON document; [`Container::flush`] publishes it.
    pub(super) fn stage_json(&self, path: &str, value: &Value) -> Result<()> {
        self.storage
            .set(&key(path)?, json_bytes(value))
            .map_err(|e| SaveError::store(format!("writing {path}"), e))
    }

    /// After a failure: drop what was staged (locally nothing of it becomes visible,
    /// and directories made for it go; on object stores, wait for uploads already
    /// started so none lands later).
    pub(super) fn discard(&self) {
        match &self.backend {
            Backend::Local(_, store) => store.discard(),
            Backend::Object(b) => {
                let _ = b.flush();
            }
            // An uncommitted session is dropped with the container.
            #[cfg(feature = "icechunk")]
            Backend::Icechunk(_) => {}
        }
    }

    /// Put back what this container's commits published (local stores).
    pub(super) fn rollback(&self) {
        self.discard();
        if let Backend::Local(_, store) = &self.backend {
            store.rollback();
        }
    }
}
