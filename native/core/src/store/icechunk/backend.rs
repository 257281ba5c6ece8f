//! An Icechunk repository's part in the commit protocol: the session is the
//! isolation (nothing it writes is seen before its commit, and a local
//! repository's lock is held by the session), metadata is declared before chunks
//! (Icechunk checks chunks against it), and the commit is the session's.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use zarrs::storage::StoreKey;

use super::{IcechunkOptions, Session};
use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::store::{
    redact, ChunkStamp, CommitBackend, Container, Fill, Locked, NewNode, Publication, Scope,
    Version,
};

/// A repository opened for one save: its session on the branch.
pub struct IcechunkBackend {
    session: Arc<Session>,
}

/// Open the repository at `location` (created if missing) and a session on the
/// branch `options` names.
pub fn open(
    location: &str,
    storage_options: &BTreeMap<String, String>,
    options: &IcechunkOptions,
    control: Arc<Control>,
) -> Result<Container> {
    let (session, storage) = Session::start(location, storage_options, options, control)?;
    Ok(Container::new(
        storage,
        redact(location),
        Arc::new(IcechunkBackend { session }),
    ))
}

/// A container over a new session on `repo` (tests: a repository in memory, where
/// nothing serialises writers and a lost race shows at the commit).
#[cfg(test)]
pub(crate) fn container_on(repo: &icechunk::Repository) -> Container {
    let (session, storage) =
        Session::on(repo, &IcechunkOptions::default(), Arc::default()).expect("a session starts");
    Container::new(
        storage,
        "memory".into(),
        Arc::new(IcechunkBackend { session }),
    )
}

impl CommitBackend for IcechunkBackend {
    fn lock(&self, _c: &Container, _scope: &Scope<'_>, _owner: &str) -> Result<Option<Locked>> {
        // The session is isolated until its commit: no lock of its own.
        Ok(Some(Locked::default()))
    }

    fn declare(&self, c: &Container, key: &str, meta: &Value) -> Result<()> {
        c.put_json(key, meta)
    }

    fn stage_node(&self, c: &Container, node: NewNode<'_>, fill: &mut Fill<'_>) -> Result<()> {
        let NewNode { path: node, groups } = node;
        // The session shows nothing before the commit: the old node goes and the new
        // one is written in place.
        self.session.delete_node(&c.storage, node)?;
        for (k, doc) in groups {
            c.put_json(k, doc)?;
        }
        fill(c, node)
    }

    fn publish(&self, c: &Container, publication: Publication<'_>) -> Result<Option<String>> {
        let Publication {
            message,
            metadata,
            after,
        } = publication;
        if let Some((path, value, _)) = metadata {
            c.put_json(path, value)?;
        }
        for (path, value, _) in after(c)? {
            c.put_json(&path, &value)?;
        }
        self.session.commit(message).map(Some)
    }

    // An uncommitted session is dropped with the container.
    fn discard(&self) {}

    // The session holds what was written until its commit.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn get_versioned(&self, c: &Container, path: &str) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(c.get_bytes(path)?.map(|b| (b, Version::Snapshot)))
    }

    fn chunk_stamp(&self, _key: &StoreKey, node: &str, chunk: &[u64]) -> Option<ChunkStamp> {
        self.session.chunk_stamp(node, chunk).map(ChunkStamp::Entry)
    }

    fn stamps_chunks(&self) -> bool {
        true
    }

    // Only a new consolidated copy lists keys, and repositories get none.
    fn list_keys(&self, _wanted: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        Err(SaveError::Unsupported(
            "an Icechunk repository gets no consolidated metadata".into(),
        ))
    }

    fn lists_nodes(&self) -> bool {
        true
    }
}
