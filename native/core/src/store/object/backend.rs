//! The object store's part in the commit protocol: a lease object per dataset as
//! the writer lock, conditional PUTs of the metadata as the commit, and for a commit
//! of several documents a record written first, which whoever takes over a lease of
//! a crashed writer finishes.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::{Abandoned, Lease, ObjectStorage, Version as ObjectVersion, DEFAULT_CONCURRENCY};
use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::store::{
    json_bytes, redact, After, CommitBackend, Container, Doc, Fill, Interrupted, Locked, NewNode,
    Publication, Scope, StoreOptions, Version, LEASE_KEY,
};

/// An object-store prefix opened for one save.
pub struct ObjectBackend {
    storage: Arc<ObjectStorage>,
    state: Mutex<State>,
}

/// The leases of the save's transaction, and its record.
#[derive(Default)]
struct State {
    leases: Vec<Lease>,
    /// Where this save recorded its commit, once it has.
    recorded: Option<String>,
}

/// Open the object-store prefix at `location`.
pub fn open(location: &str, options: &StoreOptions, control: Arc<Control>) -> Result<Container> {
    let concurrency = options.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let storage = ObjectStorage::open(location, &options.storage_options, concurrency, control)?;
    Ok(container(Arc::new(storage), redact(location)))
}

/// A container over `storage`.
pub(crate) fn container(storage: Arc<ObjectStorage>, id: String) -> Container {
    let backend = ObjectBackend {
        storage: storage.clone(),
        state: Mutex::new(State::default()),
    };
    Container::new(storage, id, Arc::new(backend))
}

impl ObjectBackend {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The commits the writers whose leases were taken over recorded and did not finish.
    fn interrupted(&self, c: &Container, gone: Vec<Abandoned>) -> Result<Vec<Interrupted>> {
        let mut out = Vec::new();
        let mut seen: Vec<Abandoned> = Vec::new();
        for gone in gone {
            if seen.contains(&gone) {
                continue;
            }
            let Some(record) = c.get_json(&gone.record)? else {
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

    /// Rewrite each document `docs` computes only if nobody changed it since it was
    /// read; when somebody did, read and compute again (a few times, then `Conflict`).
    fn put_conditionally(&self, docs: impl Fn() -> Result<Vec<Doc>>) -> Result<()> {
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
                match self.storage.put_if(&path, json_bytes(&value), expected) {
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
}

fn object_version(v: &Version) -> Option<&ObjectVersion> {
    match v {
        Version::Object(v) => Some(v),
        Version::Local | Version::Snapshot => None,
    }
}

impl CommitBackend for ObjectBackend {
    fn lock(&self, c: &Container, scope: &Scope<'_>, owner: &str) -> Result<Option<Locked>> {
        let mut leases = Vec::new();
        let mut gone = Vec::new();
        let mut take = |node: &str, record: Option<&str>| -> Result<()> {
            let key = if node.is_empty() {
                LEASE_KEY.to_string()
            } else {
                format!("{node}/{LEASE_KEY}")
            };
            let (lease, abandoned) = self.storage.lease(&key, owner, record)?;
            leases.push(lease);
            gone.extend(abandoned);
            Ok(())
        };
        match *scope {
            Scope::Dataset { path, .. } => take(path, None)?,
            // Each chunk is one atomic PUT and such an update commits no metadata.
            Scope::ExclusiveChunks { .. } => {}
            Scope::Group { path, record, .. } => {
                // Every lease names the record, so that whoever takes any of them over
                // after a crash finishes the commit.
                for node in scope.array_nodes() {
                    take(&node, Some(record))?;
                }
                take(path, Some(record))?;
            }
        }
        self.state().leases = leases;
        Ok(Some(Locked {
            missing: false,
            recovered: false,
            interrupted: self.interrupted(c, gone)?,
        }))
    }

    fn stage_node(&self, c: &Container, node: NewNode<'_>, fill: &mut Fill<'_>) -> Result<()> {
        let NewNode { path: node, groups } = node;
        for (k, doc) in groups {
            c.put_json(k, doc)?;
        }
        // The old metadata goes first, then the old chunks: no reader ever sees old
        // metadata over new chunks.
        let child = Arc::new(self.storage.child(node));
        for meta in ["zarr.json", ".zarray", ".zattrs"] {
            child.erase(meta)?;
        }
        child.erase_all_except(&[LEASE_KEY])?;
        let staged = container(child, format!("{}/{node}", c.id));
        fill(&staged, "")?;
        staged.flush()
    }

    fn publish(&self, c: &Container, publication: Publication<'_>) -> Result<Option<String>> {
        let (metadata, after) = (publication.metadata, publication.after);
        // Computed before the metadata lands, so that a failure to read them leaves
        // the dataset as it was; recomputed only for a document that lost a race.
        let first = Mutex::new(Some(after(c)?));
        if let Some((path, value, expected)) = metadata {
            let expected = object_version(expected).ok_or_else(|| {
                SaveError::Corrupt(format!("{path} was read without an object version"))
            })?;
            self.storage
                .put_if(path, json_bytes(value), Some(expected))?;
        }
        self.put_conditionally(|| {
            let computed = first.lock().unwrap_or_else(|e| e.into_inner()).take();
            computed.map_or_else(|| after(c), Ok)
        })?;
        if let Some(record) = self.state().recorded.take() {
            // Committed whole: a record left behind is harmless (only its writer's
            // lapsed lease leads to it), so a failed delete does not fail the save.
            let _ = self.storage.erase(&record);
        }
        Ok(None)
    }

    fn record(&self, c: &Container, key: &str, record: &Value) -> Result<bool> {
        self.state().recorded = Some(key.to_string());
        c.put_json(key, record)?;
        Ok(true)
    }

    fn finish(&self, c: &Container, commit: &Interrupted, after: &After<'_>) -> Result<()> {
        for (path, value, version) in &commit.docs {
            let Some(v) = object_version(version) else {
                continue;
            };
            // Not at its version any more: written already, or moved on by a later commit.
            match self.storage.put_if(path, json_bytes(value), Some(v)) {
                Ok(_) | Err(SaveError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.put_conditionally(|| after(c))?;
        self.storage.erase(&commit.key)
    }

    fn discard(&self) {
        // Uploads already started are awaited, so none lands later.
        let _ = self.storage.flush();
    }

    fn release(&self, abandon: bool) {
        let mut leases = std::mem::take(&mut self.state().leases);
        if abandon {
            leases.iter_mut().for_each(Lease::abandon);
        }
    }

    fn flush(&self) -> Result<()> {
        self.storage.flush()
    }

    fn get_versioned(&self, _c: &Container, path: &str) -> Result<Option<(Vec<u8>, Version)>> {
        Ok(self
            .storage
            .get_versioned(path)?
            .map(|(bytes, v)| (bytes.to_vec(), Version::Object(v))))
    }

    fn list_keys(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        self.storage.list_keys(wanted)
    }
}
