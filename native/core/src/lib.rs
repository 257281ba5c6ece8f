//! zarr-saver-core: the pure-Rust write path behind the `zarr-saver` npm package.
//!
//! Three entry points take a [`Destination`] (where saves write and how they reach
//! it): [`save`] writes one array (a [`SaveRequest`] and an [`NdData`], one C-order
//! buffer plus shape), [`group::save_group`] several arrays of one group in one
//! commit, and [`reserve`] grows an array without data. The napi binding is a thin
//! shell over them.
//!
//! How a save runs: [`plan`] holds the rules of the approaches and turns a save of
//! one array or many into checked plans; `commit` (the executor) opens the
//! container, takes the locks, recovers what a crashed writer left (`recovery`),
//! plans, and commits the plans in order through a [`store::Transaction`], whose
//! steps each store kind implements once ([`store::CommitBackend`]: `store/local`,
//! `store/object`, `store/icechunk`). [`hierarchy`] reads nodes and group documents,
//! [`consolidated`] keeps consolidated metadata true, `write` encodes chunks (with
//! the blosc accelerator in `blosc/`), [`store::cloud`] turns URLs and options into
//! object-store clients.
//!
//! Process-wide state, each created on first use and living until the process ends:
//! - `lock`: one mutex per dataset, so saves to it in this process take turns.
//! - `threads`: one rayon pool per requested thread count, and the core count.
//! - `store::cloud`: one Tokio runtime for all object-store I/O (Icechunk's too).
//! - `store::local::opener`: the thread that creates temp files ahead of a save.
//! - `store::local::reaper`: the thread that removes displaced files (waited for at exit).
//! - `store::writer`: this process's writer id (pid and token) and the temp-name counter.
//! - `tail_cache`: the last chunks appends wrote, decoded and encoded.
//! - `store::icechunk` (feature `icechunk`): the repositories this process opened, so
//!   their snapshot and manifest caches serve its later saves.
//! - `blosc`: a pool of output buffers, and a scratch buffer per thread.

#![deny(clippy::all)]
#![deny(rustdoc::broken_intra_doc_links)]

mod blosc;
pub mod bounds;
pub mod codecs;
mod commit;
pub mod consolidated;
pub mod control;
pub mod data;
pub mod dtype;
pub mod error;
pub mod group;
pub mod hierarchy;
mod lock;
pub mod metadata;
pub mod plan;
mod recovery;
pub mod request;
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
pub use group::save_group;
pub use metadata::CreateOptions;
pub use plan::Approach;
pub use request::{
    validate_dataset_name, Caller, Destination, GroupArray, GroupRequest, Reservation,
    ReserveRequest, SaveOutcome, SaveRequest,
};
pub use saver::{reserve, save, save_with_control};
pub use selection::AxisSelection;
pub use store::cloud::schemes as object_store_schemes;
pub use store::local::reaper::wait_idle as finish_removals;
pub use store::StoreOptions;
