//! Unix: `flock` on the directory itself, `renameat2` on Linux, `kill(pid, 0)`.

use std::fs::File;
use std::path::Path;

use super::{FileStamp, Link, LockKind};

/// An `flock` on a directory, released when dropped.
#[derive(Debug)]
pub struct Lock {
    dir: File,
    link: Link,
}

impl Lock {
    /// `dir`'s metadata, if it is still the directory that was locked: an overwrite
    /// may have swapped another one in meanwhile (the lock stays with the old one).
    /// A lock that refuses links finds a link put there since to be another entry.
    pub fn still_at(&self, dir: &Path) -> Option<std::fs::Metadata> {
        use std::os::unix::fs::MetadataExt;
        let held = self.dir.metadata().ok()?;
        let current = match self.link {
            Link::Follow => std::fs::metadata(dir),
            Link::Refuse => std::fs::symlink_metadata(dir),
        }
        .ok()?;
        (held.dev(), held.ino())
            .eq(&(current.dev(), current.ino()))
            .then_some(current)
    }

    /// Set the locked directory's modification time.
    pub fn set_dir_modified(&self, at: std::time::SystemTime) -> std::io::Result<()> {
        self.dir.set_modified(at)
    }
}

/// A directory's device and inode.
pub fn dir_identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

fn open_dir(dir: &Path, link: Link) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_DIRECTORY: whatever else sits at `dir` (a file, a FIFO) is never opened; with
    // O_NOFOLLOW a link there fails the same way (ENOTDIR).
    let flags = match link {
        Link::Follow => libc::O_DIRECTORY,
        Link::Refuse => libc::O_DIRECTORY | libc::O_NOFOLLOW,
    };
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(dir)
}

/// Lock `dir` itself: a directory can be `flock`ed, so no lock file is made, whatever
/// the kind. Blocks until the lock is held.
pub fn lock_dir(dir: &Path, _kind: LockKind, link: Link) -> std::io::Result<Lock> {
    let dir = open_dir(dir, link)?;
    dir.lock()?;
    Ok(Lock { dir, link })
}

/// Sync a directory, so the entries renamed or made in it survive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    open_dir(dir, Link::Follow)?.sync_all()
}

fn path_c(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::CString::new(p.as_os_str().as_bytes())?)
}

/// `renameat2(a, b, flags)`.
#[cfg(target_os = "linux")]
fn renameat2(a: &Path, b: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let (a, b) = (path_c(a)?, path_c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Swap two directory entries in one step (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

/// No exchange outside Linux: the callers fall back to renames.
#[cfg(not(target_os = "linux"))]
pub fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Rename `a` to `b` only if `b` does not exist; where the kernel can't tell, a
/// rename checked just before (the dataset lock keeps other writers out).
pub fn rename_noreplace(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match renameat2(a, b, libc::RENAME_NOREPLACE) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        other => return other,
    }
    if std::fs::symlink_metadata(b).is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    let _ = path_c;
    std::fs::rename(a, b)
}

/// Whether the process `pid` is gone. A pid tells a process apart on its own here:
/// the temp names' token already covers a pid reused inside a container, so `start`
/// is not needed.
pub fn process_gone(pid: u32, _start: Option<u64>) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Nothing: writer ids keep their `<pid>-<token>` form on Unix.
pub fn process_start() -> Option<u64> {
    None
}

/// The stamp of the file at `path` (not following a link), if there is one.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    stamp_of(&std::fs::symlink_metadata(path).ok()?)
}

/// The stamp of the open `file`.
pub fn open_file_stamp(file: &File) -> Option<FileStamp> {
    stamp_of(&file.metadata().ok()?)
}

fn stamp_of(m: &std::fs::Metadata) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    Some(FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// Run `wait` in `exit` itself: `process.exit()` skips Node's environment cleanup.
pub fn wait_at_exit(wait: extern "C" fn()) {
    // SAFETY: registers a plain function, which the addon never outlives.
    unsafe { libc::atexit(wait) };
}

/// Unix never refuses an operation because another process has a file open.
pub(super) fn is_busy(_e: &std::io::Error) -> bool {
    false
}
