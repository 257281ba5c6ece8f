//! Windows: lock files under std's `File::lock`, `MoveFileExW` without replacing,
//! `OpenProcess` for liveness, file ids for stamps, and no directory sync.

use std::ffi::OsStr;
use std::fs::File;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION,
    FILETIME,
};
use windows_sys::Win32::Storage::FileSystem::{
    GetFileInformationByHandle, MoveFileExW, BY_HANDLE_FILE_INFORMATION,
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetExitCodeProcess, GetProcessTimes, OpenProcess,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::{FileStamp, Link, LockKind, LOCK_PREFIX};

/// `GetExitCodeProcess`' answer for a process that still runs.
const STILL_ACTIVE: u32 = 259;

/// A lock held on a lock file, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    link: Link,
}

impl Lock {
    /// `dir`'s metadata: a lock file stays where it is when an overwrite swaps the
    /// node beside it, so the lock is on whatever directory is at the path now (not
    /// a link put there since, for a lock that refuses links).
    pub fn still_at(&self, dir: &Path) -> Option<std::fs::Metadata> {
        match self.link {
            Link::Follow => std::fs::metadata(dir).ok(),
            Link::Refuse => std::fs::symlink_metadata(dir).ok().filter(|m| m.is_dir()),
        }
    }

    /// Unsupported: the lock is on a lock file, not on the directory.
    pub fn set_dir_modified(&self, _at: std::time::SystemTime) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// None: std's metadata carries no file id on Windows, so no directory is known to be
/// the one seen before (and `clean.rs` lists it each time).
pub fn dir_identity(_m: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Where the lock file of `dir` lives (see [`LockKind`]). Lock files are never
/// removed: a writer waiting on one must find the same file when its turn comes.
fn lock_path(dir: &Path, kind: LockKind) -> PathBuf {
    match (kind, dir.parent(), dir.file_name()) {
        (LockKind::Node, Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            let mut file = std::ffi::OsString::from(format!("{LOCK_PREFIX}."));
            file.push(name);
            parent.join(file)
        }
        _ => dir.join(LOCK_PREFIX),
    }
}

/// Lock `dir` through its lock file (made if missing), which only writers open.
/// Blocks until the lock is held.
pub fn lock_dir(dir: &Path, kind: LockKind, link: Link) -> std::io::Result<Lock> {
    let meta = match link {
        Link::Follow => std::fs::metadata(dir)?,
        // A link (or junction) is no directory here.
        Link::Refuse => std::fs::symlink_metadata(dir)?,
    };
    if !meta.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::NotADirectory));
    }
    let path = lock_path(dir, kind);
    let file = super::retry_busy(&path, || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
    })?;
    file.lock()?;
    Ok(Lock { _file: file, link })
}

/// Nothing to do: Windows offers no directory sync (`FlushFileBuffers` needs a file
/// opened for writing, which a directory is not); NTFS journals the renames.
pub fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

fn wide(p: &Path) -> Vec<u16> {
    OsStr::new(p)
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// No exchange rename on Windows: the callers fall back to renames they can undo.
pub fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// `MoveFileExW` without `MOVEFILE_REPLACE_EXISTING`: fails when `b` exists.
pub fn rename_noreplace(a: &Path, b: &Path) -> std::io::Result<()> {
    let (wa, wb) = (wide(a), wide(b));
    super::retry_busy(b, || {
        // SAFETY: both are NUL-terminated wide strings that outlive the call.
        if unsafe { MoveFileExW(wa.as_ptr(), wb.as_ptr(), 0) } != 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    })
}

fn filetime(t: &FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
}

/// The creation time of the process behind `handle`.
fn creation_time(handle: windows_sys::Win32::Foundation::HANDLE) -> Option<u64> {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: `handle` is a process handle with query rights; the out pointers are valid.
    let ok = unsafe { GetProcessTimes(handle, &mut created, &mut exited, &mut kernel, &mut user) };
    (ok != 0).then(|| filetime(&created))
}

/// Whether the process `pid` is gone: no such process, one that exited, or (when the
/// writer's `start` is known) another process that got the pid since. Windows reuses
/// pids fast.
pub fn process_gone(pid: u32, start: Option<u64>) -> bool {
    // SAFETY: plain call; a null handle is checked below.
    let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if handle.is_null() {
        // No such process (ERROR_INVALID_PARAMETER); only a process we may not query
        // (another user's, a protected one) still runs.
        // SAFETY: reads this thread's last error.
        return unsafe { GetLastError() } != ERROR_ACCESS_DENIED;
    }
    let mut code = 0u32;
    // SAFETY: `handle` is open with query rights; `code` is a valid out pointer.
    let exited = unsafe { GetExitCodeProcess(handle, &mut code) } != 0 && code != STILL_ACTIVE;
    let other = match (start, creation_time(handle)) {
        (Some(start), Some(created)) => start != created,
        _ => false,
    };
    // SAFETY: closes the handle opened above, once.
    unsafe { CloseHandle(handle) };
    exited || other
}

/// This process's creation time (100 ns ticks since 1601), kept in the writer id.
pub fn process_start() -> Option<u64> {
    // SAFETY: the pseudo handle of this process needs no closing.
    creation_time(unsafe { GetCurrentProcess() })
}

/// The stamp of the file at `path` (not following a link): volume serial, file index,
/// size and last-write time. `None` on file systems without stable file ids (FAT
/// reports index 0): the tail cache then reads the chunk again.
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    let file = std::fs::OpenOptions::new()
        .access_mode(0)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
        .ok()?;
    open_file_stamp(&file)
}

/// The stamp of the open `file` (off, `None`, where the file system has no file ids).
pub fn open_file_stamp(file: &File) -> Option<FileStamp> {
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is a valid value of the struct.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open for the duration of the call; `info` is a valid out pointer.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle() as _, &mut info) } == 0 {
        return None;
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    if index == 0 {
        return None;
    }
    let written = filetime(&info.ftLastWriteTime);
    Some(FileStamp {
        dev: u64::from(info.dwVolumeSerialNumber),
        ino: index,
        size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        mtime: (written as i64, 0),
        ctime: (filetime(&info.ftCreationTime) as i64, 0),
    })
}

/// Nothing: a DLL's exit handlers run after `ExitProcess` has killed every other
/// thread, so a wait for the cleanup thread there would never end. Displaced files
/// a killed cleanup leaves behind carry this process's id, and the next writer of
/// the dataset removes them.
pub fn wait_at_exit(_wait: extern "C" fn()) {}

/// Another process holds the file: a sharing or lock violation, or the access denial
/// Windows answers for a file pending deletion or opened without delete sharing.
pub(super) fn is_busy(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error().map(|c| c as u32),
        Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION | ERROR_ACCESS_DENIED)
    )
}
