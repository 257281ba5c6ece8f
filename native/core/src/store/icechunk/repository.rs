//! Opening a repository: created if missing (racing creators settle on one), reopened
//! with a writer's configuration, and kept for the process's later saves.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use icechunk::repository::RepositoryErrorKind;
use icechunk::{Repository, Storage};

use super::io_error;
use crate::error::{Result, SaveError};
use crate::store::local;

/// Open the repository, or create it. Writers that find none at once all try to
/// create it, and all but one fail: those open what the winner made, once it is
/// complete (locally the directory lock lets one writer in at a time).
pub(super) async fn open_or_create(
    storage: Arc<dyn Storage + Send + Sync>,
    shown: &str,
    local: bool,
) -> Result<Repository> {
    let attempts: u32 = if local { 1 } else { 10 };
    let mut attempt = 1;
    loop {
        let exists = Repository::exists(storage.clone(), None)
            .await
            .map_err(|e| io_error(&format!("opening Icechunk repository '{shown}'"), e.kind()))?;
        let made = if exists {
            Repository::open(storage.clone()).execute().await
        } else {
            Repository::create(storage.clone()).execute().await
        };
        // Reopened with the writer's configuration: given to `create` it would be
        // persisted.
        let made = match made {
            Ok(repo) => {
                let config = writer_config(repo.config());
                repo.reopen(Some(config), None).await
            }
            err => err,
        };
        match made {
            Ok(repo) => return Ok(repo),
            Err(_) if !exists && attempt < attempts => {
                tokio::time::sleep(std::time::Duration::from_millis(30 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(repository_error(shown, e.kind())),
        }
    }
}

/// What a writer here changes of a repository's configuration (`persisted`), for
/// itself only (it is never saved):
/// - no manifest preloading, which serves readers of coordinate arrays and would cost
///   every writable session a scan of the snapshot with a regex built per array;
/// - without a splitting configuration of the repository's own, the default's
///   meaning (one manifest per array) said without its match-all regex, which would
///   be built again for every array of every commit.
fn writer_config(persisted: &icechunk::RepositoryConfig) -> icechunk::RepositoryConfig {
    use icechunk::config::{
        ManifestConfig, ManifestPreloadCondition, ManifestPreloadConfig, ManifestSplitCondition,
        ManifestSplitDim, ManifestSplitDimCondition, ManifestSplittingConfig,
    };
    let splitting = persisted
        .manifest
        .as_ref()
        .and_then(|m| m.splitting.as_ref())
        .is_none()
        .then(|| ManifestSplittingConfig {
            split_sizes: Some(vec![(
                ManifestSplitCondition::AnyArray,
                vec![ManifestSplitDim {
                    condition: ManifestSplitDimCondition::Any,
                    num_chunks: u32::MAX,
                }],
            )]),
        });
    icechunk::RepositoryConfig {
        manifest: Some(ManifestConfig {
            preload: Some(ManifestPreloadConfig {
                max_total_refs: Some(0),
                preload_if: Some(ManifestPreloadCondition::False),
                max_arrays_to_scan: None,
            }),
            splitting,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn is_missing_ref(kind: &RepositoryErrorKind) -> bool {
    matches!(
        kind,
        RepositoryErrorKind::Ref(icechunk::refs::RefErrorKind::RefNotFound(_))
    )
}

pub(super) fn repository_error(shown: &str, kind: &RepositoryErrorKind) -> SaveError {
    match kind {
        RepositoryErrorKind::ParentDirectoryNotClean => SaveError::InvalidArgument(format!(
            "filePath '{shown}' holds files and is no Icechunk repository"
        )),
        other => io_error(&format!("opening Icechunk repository '{shown}'"), other),
    }
}

/// The lock on a local repository directory (made if missing), which this save
/// holds until it ends.
pub(super) fn lock_local(dir: &Path) -> Result<local::DirLock> {
    let shown = dir.display().to_string();
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(SaveError::InvalidArgument(format!(
            "filePath '{shown}' exists and is not a directory"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| SaveError::store(format!("creating {shown}"), e))?;
    local::lock_dataset(dir, false, local::Link::Follow)?.ok_or_else(|| {
        SaveError::store(
            format!("locking {shown}"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })
}

/// Repositories this process opened, by location and client options, kept so that
/// their caches of snapshots and manifests (which never change) serve every later
/// save. Each session still reads the branch tip afresh.
pub(super) struct Repositories(Mutex<HashMap<String, Arc<Repository>>>);

pub(super) fn repositories() -> &'static Repositories {
    static REPOS: OnceLock<Repositories> = OnceLock::new();
    REPOS.get_or_init(|| Repositories(Mutex::new(HashMap::new())))
}

impl Repositories {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Repository>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(super) fn get(&self, key: &str) -> Option<Arc<Repository>> {
        self.map().get(key).cloned()
    }
    pub(super) fn insert(&self, key: String, repo: Arc<Repository>) {
        self.map().insert(key, repo);
    }
    pub(super) fn remove(&self, key: &str) {
        self.map().remove(key);
    }
}
