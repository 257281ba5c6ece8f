//! The seam between the commit protocol and a store kind. A [`Transaction`] orders
//! a save's steps (lock, stage, publish, record, finish, discard); each store kind
//! says what a step means for it by implementing [`CommitBackend`] once, in its own
//! folder (`local/`, `object/`, `icechunk/`). A backend instance serves one
//! container opened for one save, so it keeps the locks of that save's transaction.
//!
//! Adding a store kind: a folder with its storage (zarrs' storage traits) and one
//! `CommitBackend`, opened by `Container::open`, passing the conformance suite in
//! `conformance.rs`.
//!
//! [`Transaction`]: super::Transaction

use serde_json::Value;
use zarrs::storage::StoreKey;

use super::{ChunkStamp, Container, Doc, Interrupted, Version};
use crate::error::Result;

/// What a transaction locks.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// One dataset. With `create`, a missing one is locked so that it can be made;
    /// without, a missing one is not locked (`lock` answers `None`).
    Dataset { path: &'a str, create: bool },
    /// A group and its arrays (`arrays`: their names in the group): every array's
    /// lock that exists, in name order, then the group's. `record` is where a commit
    /// of several documents is recorded before it is made.
    Group {
        path: &'a str,
        arrays: &'a [String],
        create: bool,
        record: &'a str,
    },
    /// An update whose chunks no other writer touches (chunk-aligned, disjoint
    /// writes the caller guarantees): a store may take no lock for it.
    ExclusiveChunks { path: &'a str },
}

impl Scope<'_> {
    /// A group scope's array paths, in name order (the order their locks are
    /// taken in); none for other scopes.
    pub fn array_nodes(&self) -> Vec<String> {
        let Scope::Group { path, arrays, .. } = self else {
            return Vec::new();
        };
        let mut names: Vec<&String> = arrays.iter().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                }
            })
            .collect()
    }

    /// The node the scope is about.
    pub fn path(&self) -> &str {
        match self {
            Scope::Dataset { path, .. }
            | Scope::Group { path, .. }
            | Scope::ExclusiveChunks { path } => path,
        }
    }
}

/// What taking the locks found.
#[derive(Debug, Default)]
pub struct Locked {
    /// The locked node does not exist yet: [`CommitBackend::stage_node`] makes it
    /// whole, together with the missing directories above it.
    pub missing: bool,
    /// A writer that is gone left debris here, now removed: its commit may have
    /// published an array's metadata and not the consolidated copies above it.
    pub recovered: bool,
    /// Commits of several documents that writers now gone recorded and may not have
    /// finished (their locks were taken over).
    pub interrupted: Vec<Interrupted>,
}

/// A metadata document a commit writes: its key, JSON and the version it must
/// still be at.
pub type DocRef<'a> = (&'a str, &'a Value, &'a Version);

/// Writes a new node into the container it is given, at the path it is given.
pub type Fill<'a> = dyn FnMut(&Container, &str) -> Result<()> + 'a;

/// Computes the documents a commit writes after the metadata (consolidated copies).
pub type After<'a> = dyn Fn(&Container) -> Result<Vec<Doc>> + 'a;

/// Group documents (key and JSON) a new node's ancestors lack.
pub type GroupDocs = [(String, Value)];

/// What a commit publishes after the staged chunks: the metadata document (only
/// if still at its version), then the documents `after` computes; `message` says
/// what the save does.
#[derive(Clone, Copy)]
pub struct Publication<'a> {
    pub message: &'a str,
    pub metadata: Option<DocRef<'a>>,
    pub after: &'a After<'a>,
}

/// A whole node to build: where, and the group documents its ancestors lack.
#[derive(Debug, Clone, Copy)]
pub struct NewNode<'a> {
    pub path: &'a str,
    pub groups: &'a GroupDocs,
}

/// A store kind's part in the commit protocol; see the module docs.
pub trait CommitBackend: Send + Sync {
    /// **lock**: take the writer locks of `scope` (the commit's writer id is
    /// `owner`) and keep them until [`CommitBackend::release`]. `None`: the node is
    /// missing and the scope does not create it; nothing was locked or made.
    fn lock(&self, container: &Container, scope: &Scope<'_>, owner: &str)
        -> Result<Option<Locked>>;

    /// Lock the groups at `groups` (deepest first, after the dataset's own lock)
    /// whose documents this commit rewrites. Stores that commit documents
    /// conditionally need no lock.
    fn lock_groups(&self, _groups: &[String]) -> Result<()> {
        Ok(())
    }

    /// The keys this save will write, the first being its sign should it crash
    /// (the metadata's, or a marker). A store may get ready for them early.
    fn announce(&self, _keys: Vec<StoreKey>) {}

    /// An array's metadata, put before its chunks where the store checks chunks
    /// against it (invisible until the commit); elsewhere the metadata waits.
    fn declare(&self, _container: &Container, _key: &str, _meta: &Value) -> Result<()> {
        Ok(())
    }

    /// **stage** a whole node: `fill` writes the new node into the container it is
    /// given, at the path it is given; the node replaces whatever is at `node.path`
    /// (nothing, an old array, debris) at once, with the group documents its
    /// ancestors lack.
    fn stage_node(&self, c: &Container, node: NewNode<'_>, fill: &mut Fill<'_>) -> Result<()>;

    /// **publish**: make the staged chunks visible, then `metadata` (only if still
    /// at its version), then the documents `after` computes (read under the group
    /// locks). `message` says what the save does. Returns the id of the commit in
    /// stores that name theirs.
    fn publish(&self, c: &Container, publication: Publication<'_>) -> Result<Option<String>>;

    /// **record** the commit `record` (JSON) at `key` before it is made, where a
    /// writer that takes over one of this save's locks finds it. `false`: this
    /// store needs no record (a crash there is recovered otherwise).
    fn record(&self, _container: &Container, _key: &str, _record: &Value) -> Result<bool> {
        Ok(false)
    }

    /// **finish** a commit `commit` a writer now gone recorded: each document it
    /// names that is still at the version its writer read, then the documents
    /// `after` computes; then the record goes.
    fn finish(&self, _c: &Container, _commit: &Interrupted, _after: &After<'_>) -> Result<()> {
        Ok(())
    }

    /// **discard** what was staged and not published (after a failure): nothing of
    /// it becomes visible, and directories made for it go.
    fn discard(&self);

    /// Put back what this save published, after a publish failed part way.
    fn rollback(&self) {
        self.discard();
    }

    /// End the transaction: release its locks, or with `abandon` let them lapse (a
    /// recorded commit is unfinished; the writer that takes one over finishes it).
    fn release(&self, _abandon: bool) {}

    // What the write path needs of the store besides zarrs' storage traits.

    /// Make every chunk written so far visible or durable in the store's sense
    /// (local files renamed into place, uploads in flight awaited).
    fn flush(&self) -> Result<()>;

    /// Read `path` with the version a conditional commit checks.
    fn get_versioned(
        &self,
        container: &Container,
        path: &str,
    ) -> Result<Option<(Vec<u8>, Version)>>;

    /// What identifies the stored bytes of `chunk` (at `key`) of the array at
    /// `node`: `None` where another writer may replace them unseen.
    fn chunk_stamp(&self, _key: &StoreKey, _node: &str, _chunk: &[u64]) -> Option<ChunkStamp> {
        None
    }

    /// Whether chunks here have a stamp (see [`CommitBackend::chunk_stamp`]).
    fn stamps_chunks(&self) -> bool {
        false
    }

    /// Every key whose file name `wanted` accepts (never temp names), relative to
    /// the container's root.
    fn list_keys(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<String>>;

    /// Whether the store lists its nodes itself and holds Zarr v3 only (an Icechunk
    /// repository): nothing gets consolidated metadata there.
    fn lists_nodes(&self) -> bool {
        false
    }
}
