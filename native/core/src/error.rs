//! One error type for the whole core. Each variant maps to one stable code that
//! the TypeScript facade turns into the matching `ZarrSaverError` subclass.

use zarrs::array::{ArrayCreateError, ArrayError};
use zarrs::storage::StorageError;

/// Why a save failed. The message names the offending field and value.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// An option, path or dataset name is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// The data cannot become an array.
    #[error("{0}")]
    InvalidData(String),
    /// `update` was called without indices.
    #[error("{0}")]
    IndicesRequired(String),
    /// `update` of a dataset that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The data's shape does not fit the array or the selection.
    #[error("{0}")]
    ShapeMismatch(String),
    /// The data cannot be cast to the stored dtype without loss.
    #[error("{0}")]
    DtypeMismatch(String),
    /// An index lies outside the array.
    #[error("{0}")]
    OutOfBounds(String),
    /// A codec, dtype or store that the core cannot write.
    #[error("{0}")]
    Unsupported(String),
    /// A concurrent writer won and retries ran out.
    #[error("{0}")]
    Conflict(String),
    /// I/O failed; `os_code` keeps the errno name (ENOSPC, EACCES, ...) when known.
    #[error("{message}")]
    Store {
        message: String,
        os_code: Option<String>,
    },
    /// Existing metadata is unreadable.
    #[error("{0}")]
    Corrupt(String),
    /// The caller cancelled the save (an AbortSignal in JS) before it committed.
    #[error("{0}")]
    Aborted(String),
    /// A bug in the core: a panic, caught before it reached the host process.
    #[error("{0}")]
    Internal(String),
}

/// Every code [`SaveError::code`] returns: the table the facade's error classes
/// are checked against.
pub const ALL_CODES: [&str; 13] = [
    "ERR_ZARR_INVALID_ARGUMENT",
    "ERR_ZARR_INVALID_DATA",
    "ERR_ZARR_INDICES_REQUIRED",
    "ERR_ZARR_NOT_FOUND",
    "ERR_ZARR_SHAPE_MISMATCH",
    "ERR_ZARR_DTYPE_MISMATCH",
    "ERR_ZARR_OUT_OF_BOUNDS",
    "ERR_ZARR_UNSUPPORTED",
    "ERR_ZARR_CONFLICT",
    "ERR_ZARR_STORE",
    "ERR_ZARR_CORRUPT",
    "ERR_ZARR_ABORTED",
    "ERR_ZARR_INTERNAL",
];

impl SaveError {
    /// The stable code shared with the TypeScript error classes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "ERR_ZARR_INVALID_ARGUMENT",
            Self::InvalidData(_) => "ERR_ZARR_INVALID_DATA",
            Self::IndicesRequired(_) => "ERR_ZARR_INDICES_REQUIRED",
            Self::NotFound(_) => "ERR_ZARR_NOT_FOUND",
            Self::ShapeMismatch(_) => "ERR_ZARR_SHAPE_MISMATCH",
            Self::DtypeMismatch(_) => "ERR_ZARR_DTYPE_MISMATCH",
            Self::OutOfBounds(_) => "ERR_ZARR_OUT_OF_BOUNDS",
            Self::Unsupported(_) => "ERR_ZARR_UNSUPPORTED",
            Self::Conflict(_) => "ERR_ZARR_CONFLICT",
            Self::Store { .. } => "ERR_ZARR_STORE",
            Self::Corrupt(_) => "ERR_ZARR_CORRUPT",
            Self::Aborted(_) => "ERR_ZARR_ABORTED",
            Self::Internal(_) => "ERR_ZARR_INTERNAL",
        }
    }

    /// The wire form the binding hands to JavaScript: `CODE[ERRNO]: message`.
    /// A single string survives napi's async rejection path, which drops custom codes.
    pub fn to_wire(&self) -> String {
        match self {
            Self::Store {
                os_code: Some(errno),
                message,
            } => format!("{}[{errno}]: {message}", self.code()),
            _ => format!("{}: {self}", self.code()),
        }
    }

    pub(crate) fn store(context: impl std::fmt::Display, err: impl Into<StoreCause>) -> Self {
        let cause = err.into();
        Self::Store {
            message: format!("{context}: {}", cause.message),
            os_code: cause.os_code,
        }
    }
}

/// The detail of an I/O failure, with the errno name pulled out of it.
pub struct StoreCause {
    message: String,
    os_code: Option<String>,
}

impl From<std::io::Error> for StoreCause {
    fn from(err: std::io::Error) -> Self {
        Self {
            os_code: err.raw_os_error().and_then(errno_name),
            message: err.to_string(),
        }
    }
}

impl From<std::sync::Arc<std::io::Error>> for StoreCause {
    fn from(err: std::sync::Arc<std::io::Error>) -> Self {
        Self {
            os_code: err.raw_os_error().and_then(errno_name),
            message: err.to_string(),
        }
    }
}

impl From<StorageError> for StoreCause {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::IOError(io) => io.into(),
            other => Self {
                message: other.to_string(),
                os_code: None,
            },
        }
    }
}

fn errno_name(code: i32) -> Option<String> {
    let name = match code {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        13 => "EACCES",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        24 => "EMFILE",
        28 => "ENOSPC",
        30 => "EROFS",
        36 => "ENAMETOOLONG",
        40 => "ELOOP",
        122 => "EDQUOT",
        _ => return None,
    };
    Some(name.to_string())
}

impl From<ArrayError> for SaveError {
    fn from(err: ArrayError) -> Self {
        match err {
            ArrayError::StorageError(e) => SaveError::store("writing the array", e),
            ArrayError::CodecError(e) => match e {
                zarrs::array::CodecError::IOError(io) => SaveError::store("encoding a chunk", io),
                zarrs::array::CodecError::StorageError(s) => {
                    SaveError::store("encoding a chunk", s)
                }
                other => {
                    SaveError::Corrupt(format!("a chunk could not be encoded or decoded: {other}"))
                }
            },
            other => SaveError::InvalidData(other.to_string()),
        }
    }
}

/// Map a failure to open existing metadata.
pub(crate) fn from_open_error(path: &str, err: ArrayCreateError) -> SaveError {
    match err {
        ArrayCreateError::StorageError(StorageError::InvalidMetadata(key, msg)) => {
            SaveError::Corrupt(format!(
                "metadata of dataset '{path}' is unreadable ({key}): {msg}"
            ))
        }
        ArrayCreateError::StorageError(e) => {
            SaveError::store(format!("reading metadata of dataset '{path}'"), e)
        }
        ArrayCreateError::DataTypeCreateError(e) => SaveError::Unsupported(format!(
            "dataset '{path}' has a data type zarr-saver cannot write: {e}"
        )),
        ArrayCreateError::CodecsCreateError(e) => SaveError::Unsupported(format!(
            "dataset '{path}' uses a codec zarr-saver cannot encode: {e}"
        )),
        other => SaveError::Corrupt(format!("metadata of dataset '{path}' is invalid: {other}")),
    }
}

pub type Result<T> = std::result::Result<T, SaveError>;

/// The message and place of the last panic, kept by the hook [`catch_panics`]
/// installs: a panic on a rayon worker reaches the caller as a bare payload.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Run `work`, turning a panic inside it (on this thread or a rayon worker it waits
/// for) into [`SaveError::Internal`] with the panic's message and location, so that
/// it never unwinds into the host process, where it would abort. What the work had
/// staged is dropped on the way out, as on any failed save.
pub fn catch_panics<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
            *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{}{at}", panic_text(info.payload())));
            previous(info);
        }));
    });
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let recorded = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
            let text = recorded.unwrap_or_else(|| panic_text(payload.as_ref()));
            Err(SaveError::Internal(format!(
                "zarr-saver's core failed ({text}); the save was abandoned and the dataset \
                 is as it was. This is a bug: please report it with this message"
            )))
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod code_table {
    use super::{catch_panics, SaveError, ALL_CODES};

    #[test]
    fn a_panic_on_a_worker_becomes_an_internal_error_with_its_location() {
        use rayon::prelude::*;
        let err = catch_panics(|| {
            (0..64)
                .into_par_iter()
                .for_each(|i| assert!(i != 33, "chunk {i} broke"));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INTERNAL");
        let text = err.to_string();
        assert!(text.contains("chunk 33 broke"), "{text}");
        assert!(text.contains("error.rs:"), "{text}");
        assert_eq!(catch_panics(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn every_variant_has_its_code_in_the_table() {
        let m = String::new;
        let all = [
            SaveError::InvalidArgument(m()),
            SaveError::InvalidData(m()),
            SaveError::IndicesRequired(m()),
            SaveError::NotFound(m()),
            SaveError::ShapeMismatch(m()),
            SaveError::DtypeMismatch(m()),
            SaveError::OutOfBounds(m()),
            SaveError::Unsupported(m()),
            SaveError::Conflict(m()),
            SaveError::Store {
                message: m(),
                os_code: None,
            },
            SaveError::Corrupt(m()),
            SaveError::Aborted(m()),
            SaveError::Internal(m()),
        ];
        let codes: Vec<&str> = all.iter().map(SaveError::code).collect();
        assert_eq!(codes, ALL_CODES);
    }
}
