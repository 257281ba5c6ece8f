//! The values that cross the boundary, typed: closed sets are string enums, choices
//! tagged objects, so nothing is parsed here. Conversions into the core's types sit
//! beside each.

use std::collections::HashMap;

use napi_derive::napi;
use serde_json::{Map, Value};
use zarr_saver_core::{Compressor, DType};

/// How a save treats an existing dataset.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy)]
pub enum Approach {
    Append,
    Overwrite,
    Update,
}

impl From<Approach> for zarr_saver_core::Approach {
    fn from(a: Approach) -> Self {
        match a {
            Approach::Append => Self::Append,
            Approach::Overwrite => Self::Overwrite,
            Approach::Update => Self::Update,
        }
    }
}

/// Element types, as Zarr v3 names them.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy)]
pub enum DataType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
    String,
}

impl From<DataType> for DType {
    fn from(d: DataType) -> Self {
        match d {
            DataType::Bool => Self::Bool,
            DataType::Int8 => Self::Int8,
            DataType::Int16 => Self::Int16,
            DataType::Int32 => Self::Int32,
            DataType::Int64 => Self::Int64,
            DataType::Uint8 => Self::UInt8,
            DataType::Uint16 => Self::UInt16,
            DataType::Uint32 => Self::UInt32,
            DataType::Uint64 => Self::UInt64,
            DataType::Float32 => Self::Float32,
            DataType::Float64 => Self::Float64,
            DataType::String => Self::String,
        }
    }
}

impl From<DType> for DataType {
    fn from(d: DType) -> Self {
        match d {
            DType::Bool => Self::Bool,
            DType::Int8 => Self::Int8,
            DType::Int16 => Self::Int16,
            DType::Int32 => Self::Int32,
            DType::Int64 => Self::Int64,
            DType::UInt8 => Self::Uint8,
            DType::UInt16 => Self::Uint16,
            DType::UInt32 => Self::Uint32,
            DType::UInt64 => Self::Uint64,
            DType::Float32 => Self::Float32,
            DType::Float64 => Self::Float64,
            DType::String => Self::String,
        }
    }
}

/// One axis of an `update` selection.
#[napi(discriminant = "kind", discriminant_case = "lowercase")]
#[derive(Clone)]
pub enum AxisSelection {
    /// The whole axis.
    All,
    /// One position (negative counts from the end).
    Index { index: i64 },
    /// Positions in any order, no duplicates.
    Indices { indices: Vec<i64> },
    /// `start:stop:step`, Python's meaning.
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    },
}

impl From<AxisSelection> for zarr_saver_core::AxisSelection {
    fn from(sel: AxisSelection) -> Self {
        match sel {
            AxisSelection::All => Self::All,
            AxisSelection::Index { index } => Self::Index(index),
            AxisSelection::Indices { indices } => Self::Indices(indices),
            AxisSelection::Slice { start, stop, step } => Self::Slice { start, stop, step },
        }
    }
}

/// The compressor of a new array.
#[napi(discriminant = "kind", discriminant_case = "lowercase")]
#[derive(Clone)]
pub enum CompressorChoice {
    /// Blosc lz4, clevel 5, byte shuffle.
    Default,
    /// No compressor.
    None,
    /// numcodecs or Zarr v3 codec JSON.
    Config { config: Value },
}

impl From<CompressorChoice> for Compressor {
    fn from(c: CompressorChoice) -> Self {
        match c {
            CompressorChoice::Default => Self::Default,
            CompressorChoice::None => Self::None,
            CompressorChoice::Config { config } => Self::Config(config),
        }
    }
}

/// Where saves write and how they reach it: the one destination every entry point
/// takes, with defaults already resolved by the facade.
#[napi(object)]
#[derive(Clone)]
pub struct NativeDestination {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    /// Object-store client options, snake_case keys.
    pub storage_options: Option<HashMap<String, String>>,
    /// Uploads in flight per save on object stores.
    pub concurrency: Option<u32>,
    /// Sync before resolving, so the save survives a power cut.
    pub durable: bool,
    /// Encoding threads (`None`: one per core).
    pub threads: Option<u32>,
    /// `location` is an Icechunk repository; each save is a commit on the branch.
    pub icechunk: Option<NativeIcechunk>,
    /// Largest decoded chunk (shard, when sharded) a save may hold in memory;
    /// absent: the core's default, 256 MiB.
    pub max_chunk_bytes: Option<i64>,
}

/// An Icechunk commit: the branch it goes to and its message.
#[napi(object)]
#[derive(Clone)]
pub struct NativeIcechunk {
    pub branch: String,
    /// `None`: a message describing the save.
    pub message: Option<String>,
}

/// One array's data description (its shape travels with the data) and creation options.
#[napi(object)]
#[derive(Clone)]
pub struct NativeArrayOptions {
    /// Dtype of the elements in the buffer.
    pub dtype: DataType,
    /// Stored dtype at creation / required stored dtype later.
    pub target_dtype: Option<DataType>,
    pub chunks: Option<Vec<i64>>,
    pub shards: Option<Vec<i64>>,
    pub compressor: CompressorChoice,
    pub filters: Option<Vec<Value>>,
    pub fill_value: Option<Value>,
    pub dimension_names: Option<Vec<Option<String>>>,
    pub attributes: Option<Map<String, Value>>,
    /// Give the root a consolidated copy of the hierarchy's metadata at creation.
    pub consolidated: bool,
}

/// A single save: the dataset, what to do, and its array's options.
#[napi(object)]
#[derive(Clone)]
pub struct NativeSaveOptions {
    pub dataset: String,
    pub approach: Approach,
    pub axis: Option<u32>,
    pub selection: Option<Vec<AxisSelection>>,
    /// `None`: the format of the hierarchy the array joins (3 for a new one).
    pub zarr_format: Option<u32>,
    /// An update whose chunks no other writer touches: no lease on object stores.
    pub exclusive_chunks: Option<bool>,
    pub array: NativeArrayOptions,
}

/// A group save: the group, what to do, shared by its arrays.
#[napi(object)]
#[derive(Clone)]
pub struct NativeGroupOptions {
    /// Path of the group inside the container (`""`: the root).
    pub group: String,
    pub approach: Approach,
    pub axis: Option<u32>,
    pub selection: Option<Vec<AxisSelection>>,
    /// `None`: the format of the hierarchy the group joins (3 for a new one).
    pub zarr_format: Option<u32>,
}

/// One array of a group save: its name, its own options and its packed data.
#[napi(object)]
pub struct NativeGroupArray {
    pub name: String,
    pub options: NativeArrayOptions,
    /// The data's shape.
    pub shape: Vec<i64>,
    pub data: Option<napi::bindgen_prelude::Uint8Array>,
    pub strings: Option<Vec<String>>,
}

/// What a save did.
#[napi(object)]
pub struct NativeSaveResult {
    pub shape: Vec<i64>,
    pub dtype: DataType,
    /// Per axis `[start, stop)` of the region written.
    pub region: Vec<Vec<i64>>,
    pub created: bool,
    /// The Icechunk snapshot the save committed.
    pub snapshot_id: Option<String>,
}

/// What a group save wrote to one array.
#[napi(object)]
pub struct NativeGroupResult {
    pub name: String,
    pub result: NativeSaveResult,
}

/// Which dataset to reserve rows in, and how many.
#[napi(object)]
pub struct NativeReserveOptions {
    pub dataset: String,
    /// Rows to add after the last row of axis 0; 0 only describes the array.
    pub rows: i64,
    /// Also list the chunk rows whose chunks are all stored.
    pub stored: Option<bool>,
}

/// What a reservation found and did.
#[napi(object)]
pub struct NativeReservation {
    /// The first reserved row (the length of axis 0 before).
    pub start: i64,
    /// Shape after the reservation.
    pub shape: Vec<i64>,
    pub dtype: DataType,
    /// The unit of a write: the chunk grid's shape (the shard's when sharded).
    pub chunk_shape: Vec<i64>,
    /// With `stored`: indices along axis 0 of the chunk rows whose every chunk is stored.
    pub stored_chunk_rows: Option<Vec<i64>>,
}

/// Progress of a running save.
#[napi(object)]
pub struct NativeProgress {
    pub chunks_done: i64,
    pub chunks_total: i64,
    /// Encoded bytes stored so far.
    pub bytes_written: i64,
}
