//! The conformance suite every store kind's [`CommitBackend`] passes: the same
//! steps through a [`Transaction`] on a local directory, an in-memory object store
//! and a local Icechunk repository, and what a reader then sees.
//!
//! - commit: chunks, then metadata, visible together to a new reader;
//! - discard: a transaction dropped without its commit leaves nothing behind;
//! - rollback: a commit that fails part way leaves the array as it was;
//! - conflict: two writers of one dataset never both commit from the same read
//!   (a lock makes the second wait, or the second commit is refused);
//! - crash record: after a writer died at its commit of several arrays, the next
//!   writer sees every array at the old state or every one at the new.
//!
//! [`CommitBackend`]: super::CommitBackend

#[cfg(feature = "icechunk")]
use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::memory::InMemory;
use serde_json::{json, Value};

use super::object::ObjectStorage;
use super::{Container, Scope, Transaction, Version};
use crate::control::Control;
use crate::data::f64s;
use crate::dtype::DType;
use crate::error::SaveError;
use crate::hierarchy::{self, Node};
use crate::metadata::{self, CreateOptions};
use crate::recovery::finish_interrupted;

/// How writers of one dataset are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exclusion {
    /// The second writer waits for the first one's lock.
    Lock,
    /// Nothing waits; the later of two commits that read the same state is refused.
    /// (Only Icechunk's kinds commit this way.)
    #[cfg_attr(not(feature = "icechunk"), allow(dead_code))]
    Commit,
}

/// A store kind under test: fresh containers over one store.
struct Kind {
    name: &'static str,
    exclusion: Exclusion,
    open: Box<dyn Fn() -> Container + Send + Sync>,
    /// Make the locks a crashed writer left lapse now (as their time running out would).
    expire_locks: Box<dyn Fn() + Send + Sync>,
}

impl Kind {
    fn new(
        name: &'static str,
        exclusion: Exclusion,
        open: impl Fn() -> Container + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            exclusion,
            open: Box::new(open),
            expire_locks: Box::new(|| {}),
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn open(&self) -> Container {
        (self.open)()
    }

    fn exclusion(&self) -> Exclusion {
        self.exclusion
    }

    fn expire_locks(&self) {
        (self.expire_locks)()
    }
}

/// Make the leases a crashed writer left in `store` lapse now (as their time
/// running out would).
fn expire_leases(store: &Arc<InMemory>) {
    use futures::TryStreamExt;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
    let store = store.clone();
    super::cloud::runtime().block_on(async move {
        let all: Vec<_> = store.list(None).try_collect().await.unwrap();
        for meta in all {
            if meta.location.as_ref().ends_with(super::LEASE_KEY) {
                let bytes = store
                    .get(&meta.location)
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let mut lease: Value = serde_json::from_slice(&bytes).unwrap();
                lease["expires_ms"] = json!(0);
                let body = PutPayload::from(lease.to_string().into_bytes());
                store.put(&meta.location, body).await.unwrap();
            }
        }
    });
}

#[cfg(feature = "icechunk")]
fn in_memory_repository() -> icechunk::Repository {
    super::cloud::runtime().block_on(async {
        let storage = icechunk::new_in_memory_storage().await.unwrap();
        icechunk::Repository::create(storage)
            .execute()
            .await
            .unwrap()
    })
}

/// Every store kind, each over a store of its own.
fn kinds() -> Vec<Kind> {
    let dir = tempfile::tempdir().unwrap();
    let local = Kind::new("local", Exclusion::Lock, move || {
        let path = dir.path().display().to_string();
        super::local::open(&path, false, Arc::default()).unwrap()
    });
    let store = Arc::new(InMemory::new());
    let mut object = Kind::new("object", Exclusion::Lock, {
        let store = store.clone();
        move || {
            let storage =
                ObjectStorage::with_store(store.clone(), "root".into(), 4, Arc::default());
            super::object::container(Arc::new(storage), "mem://root".into())
        }
    });
    object.expire_locks = Box::new(move || expire_leases(&store));
    #[cfg_attr(not(feature = "icechunk"), allow(unused_mut))]
    let mut kinds = vec![local, object];
    #[cfg(feature = "icechunk")]
    {
        let dir = tempfile::tempdir().unwrap();
        // A local repository's session holds the repository's lock.
        kinds.push(Kind::new("icechunk", Exclusion::Lock, move || {
            let path = dir.path().join("repo").display().to_string();
            let options = super::IcechunkOptions::default();
            super::icechunk::open(&path, &BTreeMap::new(), &options, Arc::default()).unwrap()
        }));
        // A repository whose storage takes no lock (an object store; here in memory):
        // racing writers meet at the commit.
        let repository = in_memory_repository();
        kinds.push(Kind::new(
            "icechunk, unlocked storage",
            Exclusion::Commit,
            move || super::icechunk::container_on(&repository),
        ));
    }
    kinds
}

/// Stage the array at `node` holding `values` (chunks of 2) and return its metadata
/// document (key and JSON), declared where the store wants it before the chunks.
fn stage_array(c: &Container, node: &str, values: &[f64]) -> (String, Value) {
    let options = CreateOptions {
        chunks: Some(vec![2]),
        ..Default::default()
    };
    let max = crate::bounds::DEFAULT_MAX_CHUNK_BYTES;
    let shape = [values.len() as u64];
    let new = metadata::new_array(node, &shape, DType::Float64, &options, max).unwrap();
    let key = format!("{node}/zarr.json");
    c.declare(&key, &new.main).unwrap();
    let array = hierarchy::open_array(c, node, &new.main).unwrap();
    let control = Control::default();
    let codec = zarrs::array::CodecOptions::default();
    crate::write::write_region(
        &array,
        &[0],
        &f64s(values, vec![values.len() as u64]),
        &codec,
        &control,
    )
    .unwrap();
    (key, new.main)
}

/// What a new reader sees at `node`: its values, or `None` for no array.
fn read(kind: &Kind, node: &str) -> Option<Vec<f64>> {
    let c = kind.open();
    let Node::Array(existing) = hierarchy::read_node(&c, node).unwrap() else {
        return None;
    };
    let array = hierarchy::open_array(&c, node, &existing.meta).unwrap();
    let subset = zarrs::array::ArraySubset::new_with_shape(existing.shape.clone());
    Some(array.retrieve_array_subset::<Vec<f64>>(&subset).unwrap())
}

/// A transaction on the dataset at `path`, which it may create.
fn begin<'c>(c: &'c Container, path: &str) -> Transaction<'c> {
    let scope = Scope::Dataset { path, create: true };
    Transaction::begin(c, &scope).unwrap().unwrap()
}

/// Commit a new array at `node` holding `values`.
fn create(kind: &Kind, node: &str, values: &[f64]) {
    let c = kind.open();
    let mut txn = begin(&c, node);
    let (key, meta) = stage_array(&c, node, values);
    txn.commit("create", None, |_| {
        Ok(vec![(key.clone(), meta.clone(), Version::Local)])
    })
    .unwrap();
}

/// Stage the array at `node` grown to `values` and return its new metadata with the
/// version its old one was read at.
fn stage_growth(c: &Container, node: &str, values: &[f64]) -> (String, Value, Version) {
    let Node::Array(existing) = hierarchy::read_node(c, node).unwrap() else {
        panic!("{node} is an array")
    };
    let (key, meta) = stage_array(c, node, values);
    (key, meta, existing.version)
}

#[test]
fn a_commit_shows_chunks_and_metadata_together() {
    for kind in kinds() {
        assert_eq!(read(&kind, "a"), None, "{}", kind.name());
        create(&kind, "a", &[1.0, 2.0, 3.0]);
        assert_eq!(
            read(&kind, "a"),
            Some(vec![1.0, 2.0, 3.0]),
            "{}",
            kind.name()
        );
    }
}

#[test]
fn a_transaction_dropped_without_its_commit_leaves_nothing() {
    for kind in kinds() {
        {
            let c = kind.open();
            let _txn = begin(&c, "g/a");
            stage_array(&c, "g/a", &[1.0, 2.0]);
        }
        assert_eq!(read(&kind, "g/a"), None, "{}", kind.name());
        if let Some(dir) = kind_dir(&kind) {
            // A lock file (Windows) is no debris: it outlives every writer by design.
            let left: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with(crate::store::LOCK_PREFIX))
                .collect();
            assert!(left.is_empty(), "local: {left:?} left behind");
        }
    }
}

/// The directory of a local kind, to look for debris.
fn kind_dir(kind: &Kind) -> Option<std::path::PathBuf> {
    (kind.name() == "local").then(|| std::path::PathBuf::from(kind.open().id))
}

#[test]
fn a_commit_that_fails_part_way_leaves_the_array_as_it_was() {
    for kind in kinds() {
        create(&kind, "a", &[1.0, 2.0]);
        {
            let c = kind.open();
            let mut txn = begin(&c, "a");
            // An append rewrites no position the old shape shows.
            let (key, meta, version) = stage_growth(&c, "a", &[1.0, 2.0, 9.0, 10.0]);
            let failed = txn.commit("grow", Some((&key, &meta, &version)), |_| {
                Err(SaveError::Conflict(
                    "the documents after could not be read".into(),
                ))
            });
            assert!(failed.is_err(), "{}", kind.name());
        }
        assert_eq!(read(&kind, "a"), Some(vec![1.0, 2.0]), "{}", kind.name());
    }
}

#[test]
fn two_writers_of_one_dataset_never_commit_from_the_same_read() {
    for kind in kinds() {
        let kind = Arc::new(kind);
        create(&kind, "a", &[1.0, 2.0]);
        let c = kind.open();
        let mut first = begin(&c, "a");
        let grown = stage_growth(&c, "a", &[1.0, 2.0, 3.0]);
        let second = {
            let kind = kind.clone();
            std::thread::spawn(move || {
                let c = kind.open();
                let mut txn = begin(&c, "a");
                let read = read_len(&c, "a");
                let values: Vec<f64> = (0..read + 1).map(|v| v as f64).collect();
                let (key, meta, version) = stage_growth(&c, "a", &values);
                let committed =
                    txn.commit("second", Some((&key, &meta, &version)), |_| Ok(Vec::new()));
                (read, committed)
            })
        };
        match kind.exclusion() {
            Exclusion::Lock => {
                // Long enough for an unexcluded second writer to read the old length.
                std::thread::sleep(std::time::Duration::from_millis(300));
                first
                    .commit("first", Some((&grown.0, &grown.1, &grown.2)), |_| {
                        Ok(Vec::new())
                    })
                    .unwrap();
                // Its locks go with the transaction (and a repository's with its session).
                drop(first);
                drop(c);
                let (read, committed) = second.join().unwrap();
                assert_eq!(
                    read,
                    3,
                    "{}: the second writer read after the first",
                    kind.name()
                );
                committed.unwrap();
                assert_eq!(read_len(&kind.open(), "a"), 4, "{}", kind.name());
            }
            Exclusion::Commit => {
                let (read, committed) = second.join().unwrap();
                assert_eq!(read, 2);
                committed.unwrap();
                let lost = first.commit("first", Some((&grown.0, &grown.1, &grown.2)), |_| {
                    Ok(Vec::new())
                });
                assert_eq!(
                    lost.unwrap_err().code(),
                    "ERR_ZARR_CONFLICT",
                    "{}",
                    kind.name()
                );
            }
        }
    }
}

fn read_len(c: &Container, node: &str) -> u64 {
    match hierarchy::read_node(c, node).unwrap() {
        Node::Array(e) => e.shape[0],
        _ => panic!("{node} is an array"),
    }
}

#[test]
fn after_a_writer_died_at_its_commit_every_array_is_old_or_every_one_new() {
    for kind in kinds() {
        create(&kind, "g/a", &[1.0]);
        create(&kind, "g/b", &[2.0]);
        let names = vec!["a".to_string(), "b".to_string()];
        let scope = Scope::Group {
            path: "g",
            arrays: &names,
            create: false,
            record: "g/.zarr-saver-commit",
        };
        {
            let c = kind.open();
            let mut txn = Transaction::begin(&c, &scope).unwrap().unwrap();
            let a = stage_growth(&c, "g/a", &[1.0, 10.0]);
            let b = stage_growth(&c, "g/b", &[2.0, 20.0]);
            txn.record(&[a, b], &["g/a".into(), "g/b".into()], 3)
                .unwrap();
            // The writer dies here: its commit is recorded and not made.
        }
        kind.expire_locks();
        {
            let c = kind.open();
            let mut txn = Transaction::begin(&c, &scope).unwrap().unwrap();
            finish_interrupted(&mut txn).unwrap();
        }
        let (a, b) = (read(&kind, "g/a"), read(&kind, "g/b"));
        let old = (Some(vec![1.0]), Some(vec![2.0]));
        let new = (Some(vec![1.0, 10.0]), Some(vec![2.0, 20.0]));
        assert!(
            (a.clone(), b.clone()) == old || (a.clone(), b.clone()) == new,
            "{}: {a:?} {b:?}",
            kind.name()
        );
        if kind.name() == "object" {
            // The object store records its commits: the next writer finished it.
            assert_eq!((a, b), new);
        }
    }
}

/// The object store's writer lock, on its own.
#[test]
fn a_lease_waits_for_its_holder_and_takes_over_an_expired_one() {
    let store = Arc::new(InMemory::new());
    let storage = Arc::new(ObjectStorage::with_store(
        store.clone(),
        "p".into(),
        1,
        Arc::default(),
    ));
    let (held, gone) = storage.lease("d/.lease", "one", Some("d/.rec")).unwrap();
    assert!(gone.is_none());
    let waiter = {
        let storage = storage.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let (lease, gone) = storage.lease("d/.lease", "two", Some("d/.rec")).unwrap();
            (started.elapsed(), lease, gone)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(held);
    let (waited, mut second, gone) = waiter.join().unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(150),
        "{waited:?}"
    );
    assert!(gone.is_none(), "a released lease is not taken over");
    // An abandoned lease stays behind and, once expired, is taken over with its record.
    second.abandon();
    drop(second);
    expire_leases(&store);
    let (_third, gone) = storage.lease("d/.lease", "three", None).unwrap();
    assert_eq!(
        gone.map(|g| (g.owner, g.record)),
        Some(("two".to_string(), "d/.rec".to_string()))
    );
}
