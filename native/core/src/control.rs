//! A handle the caller keeps on a running save: progress counters it can read
//! at any time, and a cancel flag the write loop checks before every chunk.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{Result, SaveError};

/// Shared between the caller and the save; all methods are lock-free.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    chunks_done: AtomicU64,
    chunks_total: AtomicU64,
    bytes_written: AtomicU64,
    /// The save runs on its caller's thread alone (see [`Control::runs_inline`]).
    inline: AtomicBool,
}

/// A snapshot of a save's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub chunks_done: u64,
    pub chunks_total: u64,
    /// Encoded bytes stored so far (chunks and metadata).
    pub bytes_written: u64,
}

impl Control {
    /// Ask the save to stop before its next chunk; it then leaves the old array in force.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn progress(&self) -> Progress {
        Progress {
            chunks_done: self.chunks_done.load(Ordering::Relaxed),
            chunks_total: self.chunks_total.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(SaveError::Aborted(
                "the save was aborted before its metadata commit".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn add_chunks(&self, n: u64) {
        self.chunks_total.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn chunk_done(&self) {
        self.chunks_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Mark the save as small enough to run on its caller's thread alone: waking a
    /// helper thread (to create its temp files ahead) would cost it more than it saves.
    pub(crate) fn run_inline(&self) {
        self.inline.store(true, Ordering::Relaxed);
    }

    /// Whether [`Control::run_inline`] was called.
    pub(crate) fn runs_inline(&self) -> bool {
        self.inline.load(Ordering::Relaxed)
    }

    pub(crate) fn wrote(&self, bytes: u64) {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }
}
