//! zarr-saver-core: the pure-Rust write path behind the `zarr-saver` npm package.
//!
//! One entry point, [`save`], takes a [`SaveRequest`] (where, how, creation options)
//! and an [`NdData`] (one C-order buffer plus shape) and appends, overwrites or
//! updates a Zarr v2/v3 array with zarrs. The napi binding is a thin shell over it.
//!
//! Modules: [`saver`] holds the rules of the three approaches; [`store::Transaction`]
//! the commit protocol they all go through; [`hierarchy`] reads nodes and group
//! documents; `write` encodes chunks (with the blosc accelerator in `blosc/`);
//! [`store`] is where bytes go (local directories, object stores, and with the
//! `icechunk` feature Icechunk repositories, where a save is one commit); `recovery`
//! brings a dataset back to its last commit after a writer died mid-commit.
//!
//! Process-wide state, each created on first use and living until the process ends:
//! - `lock`: one mutex per dataset, so saves to it in this process take turns.
//! - `threads`: one rayon pool per requested thread count, and the core count.
//! - `store::object`: one Tokio runtime for all object-store I/O (Icechunk's too).
//! - `store::opener`: the thread that creates temp files ahead of a save.
//! - `store::reaper`: the thread that removes displaced files (waited for at exit).
//! - `store::temp`: this process's writer id (pid and token) and the temp-name counter.
//! - `tail_cache`: the last chunks appends wrote, decoded and encoded.
//! - `store::icechunk` (feature `icechunk`): the repositories this process opened, so
//!   their snapshot and manifest caches serve its later saves.
//! - `blosc`: a pool of output buffers, and a scratch buffer per thread.

#![deny(clippy::all)]

mod blosc;
pub mod bounds;
pub mod codecs;
pub mod consolidated;
pub mod control;
pub mod data;
pub mod dtype;
pub mod error;
pub mod group;
pub mod hierarchy;
mod lock;
pub mod metadata;
mod recovery;
pub mod saver;
pub mod selection;
pub mod store;
mod tail_cache;
mod test_hooks;
mod threads;
mod write;

pub use codecs::Compressor;
pub use control::{Control, Progress};
pub use data::{Elements, NdData};
pub use dtype::DType;
pub use error::{catch_panics, SaveError};
pub use metadata::CreateOptions;
pub use saver::{
    reserve, save, save_with_control, Approach, Reservation, ReserveRequest, SaveOutcome,
    SaveRequest,
};
pub use selection::AxisSelection;
pub use store::reaper::wait_idle as finish_removals;
pub use store::StoreOptions;
