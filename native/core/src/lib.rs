//! zarr-saver-core: the pure-Rust write path behind the `zarr-saver` npm package.
//!
//! One entry point, [`save`], takes a [`SaveRequest`] (where, how, creation options)
//! and an [`NdData`] (one C-order buffer plus shape) and appends, overwrites or
//! updates a Zarr v2/v3 array with zarrs. The napi binding is a thin shell over it.

#![deny(clippy::all)]

mod blosc;
pub mod codecs;
pub mod control;
pub mod data;
pub mod dtype;
pub mod error;
pub mod hierarchy;
mod lock;
pub mod metadata;
pub mod saver;
pub mod selection;
pub mod store;
mod tail_cache;
mod threads;
mod write;

pub use codecs::Compressor;
pub use control::{Control, Progress};
pub use data::{Elements, NdData};
pub use dtype::DType;
pub use error::SaveError;
pub use metadata::CreateOptions;
pub use saver::{save, save_with_control, Approach, SaveOutcome, SaveRequest};
pub use selection::AxisSelection;
pub use store::reaper::wait_idle as finish_removals;
pub use store::StoreOptions;
