//! The order of one save's steps, whatever the store: what each step means for a
//! store kind is its [`CommitBackend`]'s.
//!
//! 1. [`Transaction::begin`] takes the writer locks and creates nothing (a missing
//!    local dataset is locked through the nearest directory above it). Debris a
//!    writer that is gone left is removed then, and commits it recorded are handed
//!    to the caller to finish.
//! 2. The caller reads what it needs and validates everything before it writes.
//! 3. Writes are staged: chunks under temp names (local), uploads in flight (object
//!    stores), a session's writes (Icechunk); a new node is built whole
//!    ([`Transaction::stage_node`]).
//! 4. [`Transaction::commit`] publishes the chunks, then the metadata (the commit
//!    point), then the documents computed after it (consolidated copies). A commit
//!    of several arrays is recorded first ([`Transaction::record`]) where the store
//!    needs a record to finish it after a crash.
//! 5. Dropped without a commit (an error, an abort), the transaction discards what
//!    it staged: the dataset is as it was. The locks go with it.

use serde_json::Value;
use zarrs::storage::StoreKey;

use super::{record, writer, Container, Interrupted, Scope, Version};
use crate::error::Result;

/// A document written with a commit: its key, JSON, and (object stores) the version
/// it must still be at.
pub type Doc = (String, Value, Version);

/// One save's writes to one container: staged, then published, or discarded.
pub struct Transaction<'c> {
    container: &'c Container,
    /// This writer's id in its locks and commit record.
    owner: String,
    missing: bool,
    recovered: bool,
    interrupted: Vec<Interrupted>,
    /// Where a commit of several documents is recorded (a group save).
    record_key: Option<String>,
    /// That record is written (and, once committed, removed).
    recorded: bool,
    committed: bool,
    snapshot: Option<String>,
}

impl<'c> Transaction<'c> {
    /// Take the writer locks of `scope`. `None`: the node is missing and the scope
    /// does not create it (nothing locked, nothing made).
    pub fn begin(container: &'c Container, scope: &Scope<'_>) -> Result<Option<Self>> {
        let owner = writer::unique_id();
        let Some(locked) = container.backend().lock(container, scope, &owner)? else {
            return Ok(None);
        };
        let record_key = match scope {
            Scope::Group { record, .. } => Some(record.to_string()),
            _ => None,
        };
        Ok(Some(Self {
            container,
            owner,
            missing: locked.missing,
            recovered: locked.recovered,
            interrupted: locked.interrupted,
            record_key,
            recorded: false,
            committed: false,
            snapshot: None,
        }))
    }

    /// The container the transaction writes through.
    pub fn container(&self) -> &'c Container {
        self.container
    }

    /// Whether the locked node does not exist yet.
    pub fn missing(&self) -> bool {
        self.missing
    }

    /// Whether a writer that crashed here was cleaned up after: its commit may have
    /// published the dataset's metadata and not the consolidated copies above it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The commits that writers whose locks this transaction took over recorded and
    /// may not have finished (each handed out once).
    pub fn interrupted(&mut self) -> Vec<Interrupted> {
        std::mem::take(&mut self.interrupted)
    }

    /// See [`CommitBackend::lock_groups`](super::CommitBackend::lock_groups).
    pub fn lock_groups(&mut self, groups: &[String]) -> Result<()> {
        self.container.backend().lock_groups(groups)
    }

    /// See [`CommitBackend::announce`](super::CommitBackend::announce).
    pub fn announce(&self, keys: Vec<StoreKey>) {
        self.container.backend().announce(keys);
    }

    /// Build the node at `node` whole, in place of whatever is there; see
    /// [`CommitBackend::stage_node`](super::CommitBackend::stage_node). Once it
    /// stands, nothing of it is discarded.
    pub fn stage_node(
        &mut self,
        node: &str,
        groups: &[(String, Value)],
        mut fill: impl FnMut(&Container, &str) -> Result<()>,
    ) -> Result<()> {
        let node = super::NewNode { path: node, groups };
        self.container
            .backend()
            .stage_node(self.container, node, &mut fill)?;
        self.committed = true;
        Ok(())
    }

    /// Record the commit of `docs` for the arrays `nodes` before making it, where the
    /// store needs a record to finish it after a crash. The chunks land first, so a
    /// recorded commit is only metadata away.
    pub fn record(
        &mut self,
        docs: &[super::Doc],
        nodes: &[String],
        zarr_format: u32,
    ) -> Result<()> {
        let Some(key) = self.record_key.clone() else {
            return Ok(());
        };
        self.container.flush()?;
        // Counted as recorded before the write lands: a write that fails part way
        // must still leave the locks to lapse.
        self.recorded = true;
        let json = record::to_json(&self.owner, docs, nodes, zarr_format);
        self.recorded = self
            .container
            .backend()
            .record(self.container, &key, &json)?;
        Ok(())
    }

    /// Finish `commit`, recorded by a writer now gone; see
    /// [`CommitBackend::finish`](super::CommitBackend::finish).
    pub fn finish(
        &self,
        commit: &Interrupted,
        after: impl Fn(&Container) -> Result<Vec<Doc>>,
    ) -> Result<()> {
        self.container
            .backend()
            .finish(self.container, commit, &after)
    }

    /// Publish the staged chunks, then (if given) the metadata document at `path`
    /// (only if still at its version), then the documents `after` computes. A
    /// failure puts back what the save had published. `message` says what the save
    /// does. The locks are held until the transaction is dropped, so what the caller
    /// records about what it published (the tail cache) cannot be another writer's.
    pub fn commit(
        &mut self,
        message: &str,
        metadata: Option<(&str, &Value, &Version)>,
        after: impl Fn(&Container) -> Result<Vec<Doc>>,
    ) -> Result<()> {
        let backend = self.container.backend();
        let published = self.container.flush().and_then(|()| {
            let publication = super::Publication {
                message,
                metadata,
                after: &after,
            };
            backend.publish(self.container, publication)
        });
        match published {
            Ok(snapshot) => {
                self.snapshot = snapshot;
                self.committed = true;
                Ok(())
            }
            Err(e) => {
                backend.rollback();
                Err(e)
            }
        }
    }

    /// The id of the commit, in stores that name theirs (Icechunk's snapshot).
    pub fn snapshot_id(&self) -> Option<String> {
        self.snapshot.clone()
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let backend = self.container.backend();
        if !self.committed {
            backend.discard();
        }
        backend.release(!self.committed && self.recorded);
    }
}
