//! The local store's part in the commit protocol: locked dataset directories as
//! writer locks (`platform::lock_dir`), temp files renamed into place as the publication, a staging
//! directory swapped in for a whole new node, and a crashed writer's temp files as
//! its sign, removed by the next writer under the lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use zarrs::storage::StoreKey;

use super::{
    clean, dataset_dir, dataset_dir_above, doc_cache, file_stamp, lock_dataset, lock_group,
    publish_dir, temp, AtomicFilesystemStore,
};
use super::{DirLock, Link, Mode};
use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::store::{
    self, ChunkStamp, CommitBackend, Container, Fill, Locked, NewNode, Publication, Scope, Version,
};

/// A local directory opened for one save.
pub struct LocalBackend {
    root: PathBuf,
    store: Arc<AtomicFilesystemStore>,
    durable: bool,
    control: Arc<Control>,
    locks: Mutex<Locks>,
}

/// The locks of the save's transaction.
#[derive(Default)]
struct Locks {
    /// The dataset's (or the group's) own lock.
    main: Option<DirLock>,
    /// The locked node's directory.
    dir: Option<PathBuf>,
    /// A group save: its arrays' locks, taken before the group's (held, not read).
    _arrays: Vec<DirLock>,
    /// Groups whose documents the commit rewrites.
    groups: Vec<(PathBuf, DirLock)>,
    /// An existing dataset's own save, whose directory can be left clean (see
    /// `clean`) once it published.
    sealable: bool,
    published: bool,
}

/// Open the directory at `location` (it need not exist yet; something else there
/// fails the save's lock, see `LocalBackend::why_not_locked`).
pub fn open(location: &str, durable: bool, control: Arc<Control>) -> Result<Container> {
    container(PathBuf::from(location), Mode::Atomic, durable, control)
}

/// A container over `root`; `Mode::Direct` for a staging directory that only
/// becomes visible whole.
fn container(root: PathBuf, mode: Mode, durable: bool, control: Arc<Control>) -> Result<Container> {
    let store = Arc::new(AtomicFilesystemStore::new(
        &root,
        mode,
        durable,
        control.clone(),
    )?);
    let id = root.display().to_string();
    let backend = LocalBackend {
        root,
        store: store.clone(),
        durable,
        control,
        locks: Mutex::new(Locks::default()),
    };
    Ok(Container::new(store, id, Arc::new(backend)))
}

/// `path` relative to `base` (an ancestor), as a store key.
fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Remove what a writer that is gone left in `dir`, locked by `lock` (and beside
/// it); whether any was. A directory this process left clean, unchanged since, is
/// not listed.
fn recover(dir: &Path, lock: &DirLock) -> bool {
    if clean::unchanged(dir, &lock.seen).is_some() {
        return false;
    }
    if temp::has_debris(dir) {
        temp::remove_debris(dir);
        temp::remove_debris_beside(dir);
        true
    } else {
        false
    }
}

impl LocalBackend {
    fn locks(&self) -> MutexGuard<'_, Locks> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node's directory, checked for links above it, and how its lock treats a
    /// link at the directory itself: `filePath` may be one.
    fn node_dir(&self, path: &str) -> Result<(PathBuf, Link)> {
        if path.is_empty() {
            Ok((self.root.clone(), Link::Follow))
        } else {
            Ok((dataset_dir_above(&self.root, path)?, Link::Refuse))
        }
    }

    /// Why a save could not lock the node at `path`, where the locks leave it to a
    /// failure to tell: a taken lock below `filePath` proves it a directory, and the
    /// node's directory no link.
    fn why_not_locked(&self, path: &str) -> Result<()> {
        if std::fs::metadata(&self.root).is_ok_and(|m| !m.is_dir()) {
            return Err(SaveError::InvalidArgument(format!(
                "filePath '{}' exists and is not a directory",
                self.root.display()
            )));
        }
        if !path.is_empty() {
            dataset_dir(&self.root, path)?;
        }
        Ok(())
    }

    fn lock_scope(&self, scope: &Scope<'_>) -> Result<Option<Locked>> {
        let mut locked = Locked::default();
        let mut arrays = Vec::new();
        for node in scope.array_nodes() {
            let dir = dataset_dir(&self.root, &node)?;
            if let Some(lock) = lock_dataset(&dir, false, Link::Refuse)? {
                locked.recovered |= recover(&dir, &lock);
                arrays.push(lock);
            }
        }
        let (path, create) = match *scope {
            Scope::Dataset { path, create } | Scope::Group { path, create, .. } => (path, create),
            // Its recovery of a crashed writer's temp files judges writers by pid,
            // which needs the lock between writers of several machines.
            Scope::ExclusiveChunks { path } => (path, false),
        };
        let (dir, link) = self.node_dir(path)?;
        let group = matches!(scope, Scope::Group { .. });
        let lock_node = if group { lock_group } else { lock_dataset };
        let mut main = lock_node(&dir, create, link)?;
        // A dataset a crashed writer left stepped aside (no exchange on this system)
        // comes back before anything is decided on its absence.
        if !group
            && main.as_ref().is_none_or(|m| m.missing_top.is_some())
            && temp::restore_beside(&dir)
        {
            drop(main.take());
            main = lock_node(&dir, create, link)?;
            locked.recovered = true;
        }
        let Some(main) = main else {
            return Ok(None);
        };
        locked.missing = main.missing_top.is_some();
        let own = !locked.missing && !matches!(scope, Scope::Group { .. });
        if own {
            // The path to the dataset holds no link: checked above it, locked as itself.
            let mut at = self.root.clone();
            let below = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
            self.store.trust_dirs(below.components().map(|c| {
                at.push(c);
                at.clone()
            }));
            match clean::unchanged(&dir, &main.seen) {
                Some(checked) => self.store.trust_dirs(checked),
                None => locked.recovered |= recover(&dir, &main),
            }
        }
        *self.locks() = Locks {
            main: Some(main),
            dir: Some(dir),
            _arrays: arrays,
            groups: Vec::new(),
            sealable: own,
            published: false,
        };
        Ok(Some(locked))
    }
}

impl CommitBackend for LocalBackend {
    fn lock(&self, _c: &Container, scope: &Scope<'_>, _owner: &str) -> Result<Option<Locked>> {
        let locked = self.lock_scope(scope);
        if !matches!(locked, Ok(Some(_))) {
            self.why_not_locked(scope.path())?;
        }
        locked
    }

    fn lock_groups(&self, groups: &[String]) -> Result<()> {
        let mut locks = self.locks();
        // The directory the transaction's own lock is on.
        let held_dir = match locks.main.as_ref().and_then(|l| l.missing_top.as_ref()) {
            Some(top) => top.parent().map(Path::to_path_buf),
            None => locks.dir.clone(),
        };
        for group in groups {
            let dir = if group.is_empty() {
                self.root.clone()
            } else {
                self.root.join(group)
            };
            if held_dir.as_ref() == Some(&dir) || locks.groups.iter().any(|(d, _)| d == &dir) {
                continue;
            }
            if let Some(lock) = lock_group(&dir, false, Link::Follow)? {
                locks.groups.push((dir, lock));
            }
        }
        Ok(())
    }

    fn announce(&self, keys: Vec<StoreKey>) {
        self.store.prepare(&keys);
    }

    fn stage_node(&self, c: &Container, node: NewNode<'_>, fill: &mut Fill<'_>) -> Result<()> {
        let NewNode { path: node, groups } = node;
        let root = &self.root;
        let dir = dataset_dir(root, node)?;
        let missing_top = self
            .locks()
            .main
            .as_ref()
            .and_then(|l| l.missing_top.clone());
        // The whole missing part of the tree appears at once, above `node` too.
        let top = match missing_top {
            Some(top) if dir.starts_with(&top) => top,
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
        let published = publish_dir(&top, self.durable, |staging| {
            let sc = container(
                staging.to_path_buf(),
                Mode::Direct,
                self.durable,
                self.control.clone(),
            )?;
            for (k, doc) in &inside {
                sc.put_json(&relative(&root.join(k), &top), doc)?;
            }
            fill(&sc, &relative(&dir, &top))
        });
        match published {
            Ok(left) => {
                if let Some(old_tree) = left {
                    self.store.remove_on_drop(old_tree);
                }
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn publish(&self, c: &Container, publication: Publication<'_>) -> Result<Option<String>> {
        let (metadata, after) = (publication.metadata, publication.after);
        // Every document is staged before the first rename.
        let docs = after(c)?;
        if let Some((path, value, _)) = metadata {
            c.stage_json(path, value)?;
        }
        for (path, value, _) in &docs {
            c.stage_json(path, value)?;
        }
        self.flush()?;
        self.locks().published = true;
        // What this save published is what its next save reads, if still there.
        for (path, value) in metadata
            .map(|(p, v, _)| (p, v))
            .into_iter()
            .chain(docs.iter().map(|(p, v, _)| (p.as_str(), v)))
        {
            let file = self.root.join(store::key(path)?.as_str());
            doc_cache::wrote(&file, &store::json_bytes(value));
        }
        Ok(None)
    }

    fn discard(&self) {
        self.store.discard();
    }

    fn rollback(&self) {
        self.store.discard();
        self.store.rollback();
    }

    fn release(&self, _abandon: bool) {
        let mut locks = self.locks();
        if let (true, Some(main), Some(dir)) = (locks.sealable, &locks.main, &locks.dir) {
            // A small save leaves its directory clean for the next; any other one
            // (or one that failed) makes the next save list it.
            if locks.published && self.store.settle_now() {
                clean::seal(dir, main, self.store.checked_in(dir));
            } else {
                clean::forget(dir);
            }
        }
        *locks = Locks::default();
    }

    fn flush(&self) -> Result<()> {
        self.store
            .commit()
            .map_err(|e| SaveError::store("committing chunks", e))
    }

    fn get_versioned(&self, _c: &Container, path: &str) -> Result<Option<(Vec<u8>, Version)>> {
        let file = self.root.join(store::key(path)?.as_str());
        let bytes =
            doc_cache::read(&file).map_err(|e| SaveError::store(format!("reading {path}"), e))?;
        Ok(bytes.map(|b| (b, Version::Local)))
    }

    fn chunk_stamp(&self, key: &StoreKey, _node: &str, _chunk: &[u64]) -> Option<ChunkStamp> {
        file_stamp(&self.root.join(key.as_str()))
    }

    fn stamps_chunks(&self) -> bool {
        true
    }

    fn list_keys(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut out = Vec::new();
        super::walk::walk(&self.root, "", wanted, &mut out)
            .map_err(|e| SaveError::store(format!("listing {}", self.root.display()), e))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_error(root: &Path, path: &str, create: bool) -> String {
        let c = open(&root.to_string_lossy(), false, Arc::default()).unwrap();
        let scope = Scope::Dataset { path, create };
        match c.backend().lock(&c, &scope, "w") {
            Err(SaveError::InvalidArgument(m)) => m,
            other => panic!("{path} (create {create}): {:?}", other.map(|l| l.is_some())),
        }
    }

    #[test]
    fn a_lock_not_taken_says_what_is_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("grp")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), root.join("grp/link")).unwrap();
        for create in [false, true] {
            for path in ["", "data", "a/b"] {
                let m = lock_error(&file, path, create);
                assert!(m.ends_with("exists and is not a directory"), "{m}");
            }
            #[cfg(unix)]
            for path in ["grp/link", "grp/link/x"] {
                let m = lock_error(&root, path, create);
                assert!(m.contains("grp/link' is a symbolic link"), "{m}");
            }
        }
    }
}
