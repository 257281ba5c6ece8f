//! Temp names, the writers they belong to, and the removal of what a writer that is
//! gone left behind.
//!
//! Every temp file or staging directory is named `.zarr-saver-tmp-<name>.<writer>.<n>`,
//! where `<writer>` is `<pid>-<token>`: the pid, and a token drawn once per process,
//! so that a process that reuses a crashed one's pid (containers often start every run
//! with the same pid) still tells its own names from the ones the crash left.

use std::path::{Path, PathBuf};

use super::platform;
use crate::store::writer::{unique_id, writer_id};

/// Temp files and directories start with this so readers can tell them apart.
pub const TEMP_PREFIX: &str = ".zarr-saver-tmp-";

/// A process-unique temp name for `name`.
pub fn temp_name(name: &str) -> String {
    format!("{TEMP_PREFIX}{name}.{}", unique_id())
}

/// A process-unique hidden path beside `target`.
pub fn temp_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("value");
    target.with_file_name(temp_name(name))
}

/// Who wrote a temp entry, read back from its name.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    /// This process.
    Us,
    /// A process that still runs (or a name we cannot parse: left alone).
    Alive,
    /// A process that is gone: its entries are debris.
    Gone,
}

fn owner_of(file_name: &str) -> Option<Owner> {
    let rest = file_name.strip_prefix(TEMP_PREFIX)?;
    // `<name>.<pid>-<token>[-<start>].<n>[.old]`: the writer is the last dotted field
    // with a '-'.
    let (pid, start) = match rest.rsplit('.').find(|field| field.contains('-')) {
        Some(writer) if writer == writer_id() => return Some(Owner::Us),
        Some(writer) => {
            let mut fields = writer.split('-');
            let pid = fields.next().unwrap_or("");
            // The writer's start time, where the OS needs it to tell a reused pid.
            let start = fields.nth(1).and_then(|s| u64::from_str_radix(s, 16).ok());
            (pid, start)
        }
        // Names of earlier versions: `<name>.<pid>.<n>`.
        None => (rest.rsplit('.').nth(1).unwrap_or(""), None),
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return Some(Owner::Alive);
    };
    if pid == std::process::id() {
        // Our pid with another token: a crashed process that had it before us.
        return Some(Owner::Gone);
    }
    Some(if platform::process_gone(pid, start) {
        Owner::Gone
    } else {
        Owner::Alive
    })
}

/// Whether `dir` directly holds a temp entry of a writer that is gone: the sign of a
/// crash (every save makes its first temp entry in the dataset directory).
pub fn has_debris(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .and_then(owner_of)
            .is_some_and(|o| o == Owner::Gone)
    })
}

/// Remove, below `dir` (recursively, never through links), every temp file and
/// staging directory of a writer that is gone. Returns how many entries went.
/// Deeper entries go first, and a directory's own entries only once everything
/// below it went: the sign in the dataset directory stays while any other temp file
/// does (one another process still holds, on Windows), for the next writer to retry.
pub fn remove_debris(dir: &Path) -> usize {
    remove_debris_in(dir).0
}

/// [`remove_debris`]: how many went, and whether every one did.
fn remove_debris_in(dir: &Path) -> (usize, bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, true);
    };
    let (mut removed, mut all) = (0, true);
    let mut here = Vec::new();
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let owner = name.to_str().and_then(owner_of);
        if owner == Some(Owner::Gone) {
            here.push((entry.path(), kind.is_dir()));
        } else if owner.is_none() && kind.is_dir() {
            let (n, every) = remove_debris_in(&entry.path());
            removed += n;
            all &= every;
        }
    }
    if !all {
        return (removed, false);
    }
    for (path, is_dir) in here {
        let _ = platform::retry_busy(&path, || {
            if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
        });
        let gone = matches!(std::fs::symlink_metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        removed += usize::from(gone);
        all &= gone;
    }
    (removed, all)
}

/// Remove the staging directories a gone writer left beside `target` (named after it),
/// except an old tree that [`restore_beside`] is to put back.
pub fn remove_debris_beside(target: &Path) -> usize {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name().and_then(|n| n.to_str()))
    else {
        return 0;
    };
    let prefix = format!("{TEMP_PREFIX}{name}.");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        if n.starts_with(&prefix) && owner_of(n) == Some(Owner::Gone) {
            let path = entry.path();
            // An old tree that stepped aside for a new one whose rename never came: it
            // is the dataset, for `restore_beside` to put back.
            if n.ends_with(".old") && std::fs::symlink_metadata(target).is_err() {
                continue;
            }
            let gone = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            removed += usize::from(gone.is_ok());
        }
    }
    removed
}

/// Put back the old tree of `target` that a writer stepped aside (to `<temp>.old`)
/// and died before renaming the new one in: where the OS has no exchange rename, a
/// crash between the two leaves the dataset missing. Whether one was put back.
pub fn restore_beside(target: &Path) -> bool {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name().and_then(|n| n.to_str()))
    else {
        return false;
    };
    if std::fs::symlink_metadata(target).is_ok() {
        return false;
    }
    let prefix = format!("{TEMP_PREFIX}{name}.");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let file_name = entry.file_name();
        file_name.to_str().is_some_and(|n| {
            n.starts_with(&prefix)
                && n.ends_with(".old")
                && owner_of(n) == Some(Owner::Gone)
                && platform::rename(&entry.path(), target).is_ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that runs while this lives: init on Unix; on Windows (no process
    /// is always there) a child waiting on its stdin, killed when this drops.
    struct Running(Option<std::process::Child>);

    impl Running {
        fn start() -> Self {
            if cfg!(unix) {
                return Self(None);
            }
            let child = std::process::Command::new("cmd")
                .args(["/c", "pause"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("starting cmd");
            Self(Some(child))
        }

        fn pid(&self) -> u32 {
            self.0.as_ref().map_or(1, std::process::Child::id)
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    #[test]
    fn names_carry_this_writer() {
        let name = temp_name("zarr.json");
        assert!(name.starts_with(".zarr-saver-tmp-zarr.json."));
        assert_eq!(owner_of(&name), Some(Owner::Us));
        assert_eq!(owner_of(&format!("{name}.old")), Some(Owner::Us));
        assert_eq!(owner_of("zarr.json"), None);
    }

    #[test]
    fn same_pid_other_token_is_gone_and_a_dead_pid_is_gone() {
        let pid = std::process::id();
        let other = format!("{TEMP_PREFIX}0.{pid}-deadbeef.3");
        if writer_id() != format!("{pid}-deadbeef") {
            assert_eq!(owner_of(&other), Some(Owner::Gone));
        }
        // pid_max is at most 2^22 on Linux, and Windows hands out none this high: this
        // pid cannot run.
        assert_eq!(
            owner_of(&format!("{TEMP_PREFIX}0.99999999-00000000.1")),
            Some(Owner::Gone)
        );
        let running = Running::start();
        assert_eq!(
            owner_of(&format!("{TEMP_PREFIX}0.{}-00000000.1", running.pid())),
            Some(Owner::Alive)
        );
    }

    #[test]
    fn debris_is_removed_and_live_entries_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("c/0")).unwrap();
        let dead = format!("{TEMP_PREFIX}0.99999999-00000000.1");
        let running = Running::start();
        let live = format!("{TEMP_PREFIX}0.{}-00000000.1", running.pid());
        let ours = temp_name("0");
        for name in [&dead, &live, &ours] {
            std::fs::write(root.join("c/0").join(name), b"x").unwrap();
        }
        std::fs::write(root.join("c/0/0"), b"chunk").unwrap();
        assert!(!has_debris(root));
        std::fs::write(root.join(&dead), b"x").unwrap();
        assert!(has_debris(root));
        assert_eq!(remove_debris(root), 2);
        assert!(!root.join(&dead).exists());
        assert!(!root.join("c/0").join(&dead).exists());
        assert!(root.join("c/0").join(&live).exists());
        assert!(root.join("c/0").join(&ours).exists());
        assert!(root.join("c/0/0").exists());
    }

    #[test]
    fn an_old_tree_stepped_aside_by_a_dead_writer_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ds");
        let old = dir
            .path()
            .join(format!("{TEMP_PREFIX}ds.99999999-00000000.1.old"));
        let staging = dir
            .path()
            .join(format!("{TEMP_PREFIX}ds.99999999-00000000.2"));
        std::fs::create_dir_all(old.join("c")).unwrap();
        std::fs::write(old.join("zarr.json"), b"{}").unwrap();
        std::fs::create_dir(&staging).unwrap();
        // The dataset is missing: the old tree is not debris.
        assert_eq!(remove_debris_beside(&target), 1);
        assert!(old.exists() && !staging.exists());
        assert!(restore_beside(&target));
        assert_eq!(std::fs::read(target.join("zarr.json")).unwrap(), b"{}");
        assert!(!old.exists());
        assert!(!restore_beside(&target));
    }
}
