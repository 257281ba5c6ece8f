//! What the entry points take and give: where a save writes ([`Destination`],
//! shared by every entry point), what it asks of each array, and what it did.

use crate::data::NdData;
use crate::dtype::DType;
use crate::error::{Result, SaveError};
use crate::metadata::CreateOptions;
use crate::plan::Approach;
use crate::selection::AxisSelection;
use crate::store::StoreOptions;

/// Where saves write and how they reach it: the same for a single save, a group
/// save and a reservation.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    /// Object-store client options, upload concurrency, durability, Icechunk.
    pub store: StoreOptions,
    /// Encoding threads (`None`: one per core).
    pub threads: Option<usize>,
    /// Largest decoded chunk (shard, when sharded) a save may hold in memory.
    pub max_chunk_bytes: u64,
}

impl Destination {
    /// `location` with every other option at its default.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            store: StoreOptions::default(),
            threads: None,
            max_chunk_bytes: crate::bounds::DEFAULT_MAX_CHUNK_BYTES,
        }
    }
}

/// Everything a single save needs besides the data.
#[derive(Debug, Clone)]
pub struct SaveRequest {
    pub destination: Destination,
    /// `/`-separated path of the array inside it.
    pub dataset: String,
    pub approach: Approach,
    /// Axis that `append` grows.
    pub axis: usize,
    /// `update` selection, one entry per leading axis.
    pub selection: Option<Vec<AxisSelection>>,
    /// Stored dtype at creation; must equal the stored dtype afterwards.
    pub dtype: Option<DType>,
    pub create: CreateOptions,
    /// An update whose chunks no other writer touches (the caller's guarantee:
    /// chunk-aligned, disjoint writes): on an object store it takes no lease and
    /// runs beside other saves of the dataset in this process. Ignored otherwise.
    pub exclusive_chunks: bool,
}

/// The thread a save is called on, which decides whether a small append (one that
/// touches a chunk or two) runs on it or is handed to the pool: handing it over
/// costs about as much as the append itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Caller {
    /// A thread of the caller's own (a Rust program's, a worker pool's): a small
    /// append runs on it.
    #[default]
    OwnThread,
    /// A thread whose malloc arena a runtime shares (Node's main thread): a small
    /// append runs on it, but encodes on the pool when its codecs allocate
    /// chunk-sized buffers with the C allocator, which would fragment that heap
    /// (c-blosc's aligned ~1 MiB buffers; see `commit/shared_heap.rs`).
    SharedHeap,
    /// A thread that runs none of the save's work: everything goes to the pool.
    PoolOnly,
}

impl SaveRequest {
    /// A request with every option at its default: the hierarchy's Zarr format (3
    /// for a new one), default chunks and compressor, one thread per core.
    pub fn new(
        location: impl Into<String>,
        dataset: impl Into<String>,
        approach: Approach,
    ) -> Self {
        Self {
            destination: Destination::new(location),
            dataset: dataset.into(),
            approach,
            axis: 0,
            selection: None,
            dtype: None,
            create: CreateOptions::default(),
            exclusive_chunks: false,
        }
    }
}

/// Where and how a group save writes; per-array options ride with each array.
#[derive(Debug, Clone)]
pub struct GroupRequest {
    pub destination: Destination,
    /// Path of the group inside the container (`""`: the root).
    pub group: String,
    pub approach: Approach,
    /// The axis appends grow, shared by every array.
    pub axis: usize,
    /// `update`: the same positions in every array.
    pub selection: Option<Vec<AxisSelection>>,
    /// Zarr format of a new group and its arrays (`None`: the hierarchy's).
    pub zarr_format: Option<u32>,
}

/// One array of a group save.
#[derive(Debug, Clone)]
pub struct GroupArray<'a> {
    /// Its name in the group (one path segment).
    pub name: String,
    pub data: NdData<'a>,
    /// Stored dtype at creation; must equal the stored dtype afterwards.
    pub dtype: Option<DType>,
    /// Creation options of this array (`zarr_format` is the request's).
    pub create: CreateOptions,
}

/// A request to grow an existing array's axis 0 without writing data.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub destination: Destination,
    /// `/`-separated path of the array inside it.
    pub dataset: String,
    /// Rows to add after the last row of axis 0 (0: only describe the array).
    pub rows: u64,
    /// Also list the chunk rows whose chunks are all stored (one existence check per chunk).
    pub stored: bool,
}

/// What a save did to one array.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveOutcome {
    /// Shape of the array after the save.
    pub shape: Vec<u64>,
    pub dtype: DType,
    /// Per axis, `[start, stop)` of the bounding box written.
    pub region: Vec<(u64, u64)>,
    /// Whether this save created the array.
    pub created: bool,
    /// The Icechunk snapshot this save committed (repositories only).
    pub snapshot_id: Option<String>,
}

/// What a reservation found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// The first reserved row: the array's length on axis 0 before the reservation.
    pub start: u64,
    /// Shape of the array after the reservation.
    pub shape: Vec<u64>,
    pub dtype: DType,
    /// The chunk grid's shape: the unit of a write (the shard's shape when sharded).
    pub chunk_shape: Vec<u64>,
    /// When asked: indices along axis 0 of the chunk rows whose every chunk is
    /// stored (before the reservation). A chunk equal to the fill value is not
    /// stored, so a missing one may still have been written.
    pub stored_chunk_rows: Option<Vec<u64>>,
}

/// Rejects names that could escape the container or alias another node. `field`
/// names the option in the message (`datasetName`, `group`, `array name`).
pub fn validate_node_name(field: &str, name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(SaveError::InvalidArgument(format!(
            "{field} {name:?} {why}"
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.starts_with('/') {
        return bad("must be relative to filePath (no leading '/')");
    }
    if name.contains('\\') {
        return bad("must use '/' as separator, not '\\'");
    }
    if name.contains('\0') {
        return bad("contains a NUL character");
    }
    for segment in name.split('/') {
        match segment {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad("must not contain '.' or '..' segments"),
            // `.z*` covers Zarr's own names and ours (temp files, the lease).
            s if s.starts_with(".z") || s == "zarr.json" => {
                return bad("uses a name reserved by Zarr")
            }
            _ => {}
        }
    }
    Ok(())
}

/// [`validate_node_name`] of a `datasetName`.
pub fn validate_dataset_name(name: &str) -> Result<()> {
    validate_node_name("datasetName", name)
}

/// What an Icechunk repository holds: Zarr v3 nodes, listed by the repository itself.
pub(crate) fn check_icechunk(zarr_format: Option<u32>, consolidated: bool) -> Result<()> {
    if let Some(f @ 2) = zarr_format {
        return Err(SaveError::InvalidArgument(format!(
            "zarrFormat {f}: an Icechunk repository holds Zarr v3 only"
        )));
    }
    if consolidated {
        return Err(SaveError::InvalidArgument(
            "consolidated: an Icechunk repository lists its nodes itself and takes no consolidated metadata".into(),
        ));
    }
    Ok(())
}
