//! The local store: every write atomic (a temp file, then exchanged or renamed into
//! place), the writes of one save published together, and, with `durable`, synced
//! before they are published.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::StoreKey;

use crate::control::Control;
use crate::error::{Result, SaveError};

use super::dirs::sync_dir;
use super::opener::{create_new, create_now, create_soon, Ahead};
use super::platform;
use super::reaper::remove_later;
use super::temp::temp_beside;

mod publish;
mod settle;
mod storage;

use publish::{erase_file, replace_file, restore, Published};

/// How a store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Temp file, then exchange or rename into place at [`AtomicFilesystemStore::commit`].
    Atomic,
    /// Straight to the target: the whole tree is a staging directory nobody reads
    /// until it is swapped in.
    Direct,
}

/// A filesystem store whose writes never leave a half-written file behind, and whose
/// writes of one save become visible together: `set` writes a uniquely named temp
/// file beside its target and `erase` is noted, both applied in order by [`commit`]
/// (exchanges and renames, which need no space) or dropped by [`discard`]. A save
/// that fails part way, on ENOSPC or an abort, so leaves the dataset as it was:
/// directories it made are removed again, and what a commit published can be put
/// back by [`rollback`] until the store is dropped.
///
/// [`commit`]: AtomicFilesystemStore::commit
/// [`discard`]: AtomicFilesystemStore::discard
/// [`rollback`]: AtomicFilesystemStore::rollback
#[derive(Debug)]
pub struct AtomicFilesystemStore {
    inner: FilesystemStore,
    root: PathBuf,
    /// Directories already checked to lie inside `root`.
    checked: Mutex<HashSet<PathBuf>>,
    mode: Mode,
    /// Sync every file before it is published, and the directories after.
    durable: bool,
    control: Arc<Control>,
    pending: Mutex<Vec<Pending>>,
    /// What commits published, in order, for a rollback; displaced files go to the
    /// reaper once the store is dropped.
    published: Mutex<Vec<Published>>,
    /// Directories this store made (parents first), removed again by a discard.
    made_dirs: Mutex<Vec<PathBuf>>,
    /// Temp files being created ahead of the `set` that will fill them, by target.
    ahead: Mutex<HashMap<PathBuf, (PathBuf, Ahead)>>,
    /// The save's first temp file (its sign in the dataset directory, should it
    /// crash): no other temp file is made before it exists.
    intent: Mutex<Option<Ahead>>,
    /// Bytes staged by this store (see `settle_now`).
    staged_bytes: AtomicU64,
    /// Old trees a swap could not remove yet, removed with the displaced files.
    old_trees: Mutex<Vec<PathBuf>>,
}

#[derive(Debug)]
enum Pending {
    Rename { temp: PathBuf, target: PathBuf },
    Erase(PathBuf),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AtomicFilesystemStore {
    /// A store rooted at `root`; every byte it writes is counted on `control`.
    pub fn new(root: &Path, mode: Mode, durable: bool, control: Arc<Control>) -> Result<Self> {
        let inner = FilesystemStore::new(root).map_err(|e| {
            SaveError::InvalidArgument(format!("filePath '{}' is not usable: {e}", root.display()))
        })?;
        Ok(Self {
            inner,
            root: root.to_path_buf(),
            checked: Mutex::new(HashSet::new()),
            mode,
            durable,
            control,
            pending: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
            made_dirs: Mutex::new(Vec::new()),
            ahead: Mutex::new(HashMap::new()),
            intent: Mutex::new(None),
            staged_bytes: AtomicU64::new(0),
            old_trees: Mutex::new(Vec::new()),
        })
    }

    /// Start creating, on a background thread, the temp files that coming `set`s of
    /// `keys` will write, so that they are ready when the values are encoded. The
    /// first key's temp file is the save's intent: no other temp file of the save
    /// exists before it. Skips keys whose directory does not exist yet; [`discard`]
    /// removes what goes unused.
    ///
    /// [`discard`]: AtomicFilesystemStore::discard
    pub fn prepare(&self, keys: &[StoreKey]) {
        if self.mode == Mode::Direct {
            return;
        }
        let mut ahead = lock(&self.ahead);
        let (targets, temps): (Vec<PathBuf>, Vec<PathBuf>) = keys
            .iter()
            .map(|key| self.inner.key_to_fspath(key))
            .filter(|target| {
                let dir = target.parent().unwrap_or(&self.root);
                !ahead.contains_key(target) && self.check_inside(dir).is_ok()
            })
            .map(|target| {
                let temp = temp_beside(&target);
                (target, temp)
            })
            .unzip();
        let files = if self.control.runs_inline() {
            create_now(temps.clone())
        } else {
            create_soon(temps.clone())
        };
        let mut intent = lock(&self.intent);
        for ((target, temp), file) in targets.into_iter().zip(temps).zip(files) {
            if intent.is_none() {
                *intent = Some(file.clone());
            }
            ahead.insert(target, (temp, file));
        }
    }

    /// A fresh temp file for `target`: the one prepared for it, or a new one made
    /// once the intent exists. A process that crashed with this pid may have left
    /// some of our names behind: then the next name.
    fn temp_for(&self, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
        let prepared = lock(&self.ahead).remove(target);
        if let Some((temp, file)) = prepared {
            if let Ok(file) = file.wait() {
                return Ok((temp, file));
            }
        }
        let intent = lock(&self.intent).clone();
        if let Some(intent) = intent {
            intent.created();
        }
        let mut attempts = 0;
        loop {
            let temp = temp_beside(target);
            match create_new(&temp) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 10_000 => {
                    attempts += 1
                }
                created => return created.map(|file| (temp, file)),
            }
        }
    }

    /// Writes never pass through a symbolic link below `filePath` (a `c -> /elsewhere`
    /// planted inside a dataset would carry them out of it): the rule `dataset_dir`
    /// applies to dataset names. One `lstat` per directory not yet seen by this store;
    /// `NotFound` if `dir` does not exist yet.
    fn check_inside(&self, dir: &Path) -> std::io::Result<()> {
        let below = dir
            .strip_prefix(&self.root)
            .map_err(|_| std::io::Error::other(format!("{} is outside filePath", dir.display())))?;
        let mut checked = lock(&self.checked);
        let mut path = self.root.clone();
        for part in below.components() {
            path.push(part);
            if checked.contains(&path) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                return Err(std::io::Error::other(format!(
                    "{} is a symbolic link; zarr-saver does not follow links inside filePath",
                    path.display()
                )));
            }
            checked.insert(path.clone());
        }
        Ok(())
    }

    /// Make `dir` and its missing parents, noting each one made.
    fn make_dirs(&self, dir: &Path) -> std::io::Result<()> {
        let mut missing = Vec::new();
        let mut at = dir;
        while std::fs::symlink_metadata(at).is_err() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(p) if p.starts_with(&self.root) && p != at => at = p,
                _ => break,
            }
        }
        let mut made = lock(&self.made_dirs);
        for d in missing.into_iter().rev() {
            match std::fs::create_dir(&d) {
                Ok(()) => made.push(d),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn write_file(&self, file: &mut std::fs::File, value: &[u8]) -> std::io::Result<()> {
        file.write_all(value)?;
        if self.durable {
            file.sync_all()?;
        }
        Ok(())
    }

    fn stage(&self, key: &StoreKey, value: &[u8]) -> std::io::Result<()> {
        let target = self.inner.key_to_fspath(key);
        let dir = target.parent().unwrap_or(&self.root);
        if self.mode == Mode::Direct {
            self.make_dirs(dir)?;
            let mut file = std::fs::File::create(&target)?;
            self.write_file(&mut file, value)?;
            self.control.wrote(value.len() as u64);
            return Ok(());
        }
        match self.check_inside(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.make_dirs(dir)?;
                self.check_inside(dir)?;
            }
            checked => checked?,
        }
        self.staged_bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        let (temp, mut file) = self.temp_for(&target)?;
        if let Err(e) = self.write_file(&mut file, value) {
            drop(file);
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        self.control.wrote(value.len() as u64);
        lock(&self.pending).push(Pending::Rename { temp, target });
        Ok(())
    }

    /// Make every staged write and erase visible, in the order they were made. With
    /// `durable`, the directories that changed are synced before this returns.
    pub fn commit(&self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut *lock(&self.pending));
        let mut changed_dirs = BTreeSet::new();
        let mut ops = pending.into_iter();
        while let Some(op) = ops.next() {
            let result = match &op {
                Pending::Rename { temp, target } => replace_file(temp, target),
                Pending::Erase(target) => erase_file(target),
            };
            match result {
                Ok(done) => {
                    if let Some(dir) = op_dir(&op) {
                        changed_dirs.insert(dir);
                    }
                    lock(&self.published).push(done);
                }
                Err(e) => {
                    lock(&self.pending).extend(std::iter::once(op).chain(ops));
                    self.discard();
                    return Err(e);
                }
            }
        }
        // A staging tree is synced whole before it is published (`publish_dir`).
        if self.durable && self.mode == Mode::Atomic {
            // A directory this save made is an entry in its parent: sync that one too.
            for made in std::mem::take(&mut *lock(&self.made_dirs)) {
                changed_dirs.extend(made.parent().map(Path::to_path_buf));
                changed_dirs.insert(made);
            }
            for dir in changed_dirs.iter().rev() {
                sync_dir(dir)?;
            }
        } else {
            lock(&self.made_dirs).clear();
        }
        Ok(())
    }

    /// Put back what commits published (newest first): exchanged files swap back,
    /// new files go, erased ones return. For a save whose metadata commit failed
    /// after its chunks were published.
    pub fn rollback(&self) {
        for done in std::mem::take(&mut *lock(&self.published))
            .into_iter()
            .rev()
        {
            let _ = match done {
                Published::Exchanged { target, displaced } => restore(&displaced, &target),
                Published::Created { target } => std::fs::remove_file(&target),
                Published::Erased { target, doomed } => platform::rename(&doomed, &target),
                Published::Nothing => Ok(()),
            };
        }
    }

    /// Remove the directory `old_tree` (already out of readers' sight) with the files
    /// this store displaced, once every file the store holds open is closed.
    pub fn remove_on_drop(&self, old_tree: PathBuf) {
        lock(&self.old_trees).push(old_tree);
    }

    /// Drop every staged write (removing its temp file) and erase, every temp file
    /// prepared and not written, and the directories this store made that are empty.
    pub fn discard(&self) {
        for op in std::mem::take(&mut *lock(&self.pending)) {
            if let Pending::Rename { temp, .. } = op {
                let _ = std::fs::remove_file(temp);
            }
        }
        for (_, (temp, file)) in std::mem::take(&mut *lock(&self.ahead)) {
            if file.wait().is_ok() {
                let _ = std::fs::remove_file(temp);
            }
        }
        lock(&self.intent).take();
        for dir in std::mem::take(&mut *lock(&self.made_dirs)).iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn op_dir(op: &Pending) -> Option<PathBuf> {
    match op {
        Pending::Rename { target, .. } | Pending::Erase(target) => {
            target.parent().map(Path::to_path_buf)
        }
    }
}

impl Drop for AtomicFilesystemStore {
    fn drop(&mut self) {
        // Temp files prepared and not written go with the files the save displaced,
        // in an order (below) where the sign in the dataset directory outlives every
        // other temp file of the save, or a crash meanwhile would leave files no sign
        // points the next writer to.
        let unused: Vec<PathBuf> = std::mem::take(&mut *lock(&self.ahead))
            .into_values()
            .filter_map(|(temp, file)| file.wait().is_ok().then_some(temp))
            .collect();
        self.discard();
        let mut displaced: Vec<PathBuf> =
            std::mem::take(self.published.get_mut().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .filter_map(|done| match done {
                    Published::Exchanged { displaced, .. } => Some(displaced),
                    Published::Erased { doomed, .. } => Some(doomed),
                    Published::Created { .. } | Published::Nothing => None,
                })
                .collect();
        displaced.extend(unused);
        displaced.extend(std::mem::take(
            self.old_trees.get_mut().unwrap_or_else(|e| e.into_inner()),
        ));
        // Deepest first, so whatever sits in the dataset directory (the save's sign:
        // its marker, or the metadata it displaced once the marker became the new
        // metadata) goes after every temp file in the chunk directories below it.
        displaced.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        remove_later(displaced);
    }
}
