//! The napi-rs shell over `zarr-saver-core`: two entry points (`save`, `saveSync`)
//! taking one options object, one byte buffer (or a string list) and nothing else,
//! plus the core's rules the facade needs before a save (dataset names, masking
//! credentials, the dtype and error-code tables). Options arrive typed: closed sets
//! are string enums and choices are tagged objects, so nothing is parsed here. The
//! facade checks the JavaScript types of values; the core checks what they mean.
//! Errors that reach JS carry their stable code as `CODE[ERRNO]: message`.
//! Every entry point runs its work through [`guarded`], so a panic of the core is
//! an `ERR_ZARR_INTERNAL` error, never an abort of the host process.

#![deny(clippy::all)]

use std::borrow::Cow;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Uint8Array};
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;
use serde_json::{Map, Value};
use zarr_saver_core::group::{save_group as save_group_core, GroupArray, GroupRequest};
use zarr_saver_core::{
    bounds, catch_panics, dtype, error, finish_removals, reserve as reserve_core,
    save_with_control, saver, store, Compressor, Control, CreateOptions, DType, Elements, NdData,
    ReserveRequest, SaveError, SaveOutcome, SaveRequest, StoreOptions,
};

// glibc's malloc keeps raising its mmap threshold as chunk buffers (~1 MiB) are freed,
// then serves them from the main thread's heap, which then grows without bound under
// saveSync (~1 MB per small append); mimalloc reuses them and returns memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a save treats an existing dataset.
#[napi(string_enum = "lowercase")]
#[derive(Clone, Copy)]
pub enum Approach {
    Append,
    Overwrite,
    Update,
}

impl From<Approach> for saver::Approach {
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

/// Everything the core needs, with defaults already resolved by the facade.
#[napi(object)]
#[derive(Clone)]
pub struct NativeSaveOptions {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    pub dataset: String,
    pub approach: Approach,
    /// Dtype of the elements in the buffer.
    pub dtype: DataType,
    pub shape: Vec<i64>,
    /// Stored dtype at creation / required stored dtype later.
    pub target_dtype: Option<DataType>,
    pub axis: Option<u32>,
    pub selection: Option<Vec<AxisSelection>>,
    pub chunks: Option<Vec<i64>>,
    pub shards: Option<Vec<i64>>,
    pub compressor: CompressorChoice,
    pub filters: Option<Vec<Value>>,
    pub fill_value: Option<Value>,
    pub zarr_format: Option<u32>,
    pub dimension_names: Option<Vec<Option<String>>>,
    pub attributes: Option<Map<String, Value>>,
    pub threads: Option<u32>,
    /// Object-store client options, snake_case keys.
    pub storage_options: Option<std::collections::HashMap<String, String>>,
    /// Uploads in flight per save on object stores.
    pub concurrency: Option<u32>,
    /// Sync before resolving, so the save survives a power cut.
    pub durable: bool,
    /// Give the root a consolidated copy of the hierarchy's metadata at creation.
    pub consolidated: bool,
    /// An update whose chunks no other writer touches: no lease on object stores.
    pub exclusive_chunks: Option<bool>,
    /// `location` is an Icechunk repository; each save is a commit on the branch.
    pub icechunk: Option<NativeIcechunk>,
    /// Largest decoded chunk (shard, when sharded) a save may hold in memory;
    /// absent: the core's default, 1 GiB.
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

fn to_napi(err: SaveError) -> Error {
    Error::new(Status::GenericFailure, err.to_wire())
}

/// The one door from an entry point into the core: its work, with a panic caught
/// (on this thread or on a rayon worker) and reported as `ERR_ZARR_INTERNAL`. An
/// uncaught panic would unwind into Node-API's C frames, which aborts the process.
fn guarded<T>(work: impl FnOnce() -> std::result::Result<T, SaveError>) -> Result<T> {
    catch_panics(work).map_err(to_napi)
}

/// JS integers as the core's sizes: a negative one is the caller's error.
fn dims(values: &[i64], field: &str) -> std::result::Result<Vec<u64>, SaveError> {
    values
        .iter()
        .map(|&v| {
            u64::try_from(v).map_err(|_| {
                SaveError::InvalidArgument(format!("{field} entries must be positive; got {v}"))
            })
        })
        .collect()
}

fn request(o: NativeSaveOptions) -> std::result::Result<(SaveRequest, DType, Vec<u64>), SaveError> {
    let req = SaveRequest {
        location: o.location,
        store: StoreOptions {
            storage_options: o.storage_options.unwrap_or_default().into_iter().collect(),
            concurrency: o.concurrency.map(|c| c as usize),
            durable: o.durable,
            icechunk: o.icechunk.map(|i| store::IcechunkOptions {
                branch: i.branch,
                message: i.message,
            }),
        },
        dataset: o.dataset,
        approach: o.approach.into(),
        axis: o.axis.unwrap_or(0) as usize,
        selection: o.selection.map(|s| s.into_iter().map(Into::into).collect()),
        dtype: o.target_dtype.map(Into::into),
        create: CreateOptions {
            chunks: o.chunks.as_deref().map(|c| dims(c, "chunks")).transpose()?,
            shards: o.shards.as_deref().map(|c| dims(c, "shards")).transpose()?,
            compressor: o.compressor.into(),
            filters: o.filters.unwrap_or_default(),
            fill_value: o.fill_value,
            zarr_format: o.zarr_format.unwrap_or(3),
            dimension_names: o.dimension_names,
            attributes: o.attributes.unwrap_or_default(),
            consolidated: o.consolidated,
        },
        threads: o.threads.map(|t| t as usize),
        exclusive_chunks: o.exclusive_chunks.unwrap_or(false),
        inline_small_appends: true,
        max_chunk_bytes: match o.max_chunk_bytes {
            None => bounds::DEFAULT_MAX_CHUNK_BYTES,
            Some(n) => u64::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                SaveError::InvalidArgument(format!("maxChunkBytes must be positive; got {n}"))
            })?,
        },
    };
    Ok((req, o.dtype.into(), dims(&o.shape, "shape")?))
}

/// Refuse a dataset name that could escape `filePath` or alias another node; the
/// error says why. The core's rule, checked by the facade when a saver is built.
#[napi]
pub fn check_dataset_name(name: String) -> Result<()> {
    guarded(|| saver::validate_dataset_name(&name))
}

/// `location` fit for a message or a log: credentials in a URL are masked.
#[napi]
pub fn redact(location: String) -> Result<String> {
    guarded(|| Ok(store::redact(&location)))
}

/// Every dtype the core writes, by name.
#[napi]
pub fn data_types() -> Vec<DataType> {
    dtype::ALL.iter().map(|&d| d.into()).collect()
}

/// Every error code the core reports.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    error::ALL_CODES.to_vec()
}

/// Progress of a running save.
#[napi(object)]
pub struct NativeProgress {
    pub chunks_done: i64,
    pub chunks_total: i64,
    /// Encoded bytes stored so far.
    pub bytes_written: i64,
}

/// A handle on one save: read its progress, or cancel it before its metadata commit.
#[napi]
pub struct SaveControl {
    inner: Arc<Control>,
}

#[napi]
impl SaveControl {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Control::default()),
        }
    }

    /// Stop the save before its next chunk; the dataset keeps its previous state.
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    #[napi]
    pub fn progress(&self) -> NativeProgress {
        let p = self.inner.progress();
        NativeProgress {
            chunks_done: p.chunks_done as i64,
            chunks_total: p.chunks_total as i64,
            bytes_written: p.bytes_written as i64,
        }
    }
}

fn control_of(control: Option<&SaveControl>) -> Arc<Control> {
    control.map_or_else(|| Arc::new(Control::default()), |c| c.inner.clone())
}

fn run(
    options: NativeSaveOptions,
    control: Arc<Control>,
    data: Option<&[u8]>,
    strings: Option<Vec<String>>,
    on_js_thread: bool,
) -> std::result::Result<SaveOutcome, SaveError> {
    let (mut req, dtype, shape) = request(options)?;
    // The JS thread's malloc heap is V8's too: keep c-blosc's buffers off it.
    req.inline_small_appends = !on_js_thread;
    save_with_control(&req, nd_data(dtype, shape, data, strings)?, control)
}

/// The elements the facade packed: one byte buffer, or a string list.
fn nd_data(
    dtype: DType,
    shape: Vec<u64>,
    data: Option<&[u8]>,
    strings: Option<Vec<String>>,
) -> std::result::Result<NdData<'_>, SaveError> {
    let elements = match (dtype, data, strings) {
        (DType::String, _, Some(s)) => Elements::Strings(s),
        (d, Some(bytes), None) if d != DType::String => Elements::Fixed {
            dtype: d,
            bytes: Cow::Borrowed(bytes),
        },
        _ => {
            return Err(SaveError::InvalidData(format!(
                "a {} save needs exactly one of a byte buffer or a string list",
                dtype.name()
            )))
        }
    };
    NdData::new(elements, shape)
}

/// One array of a group save: its name, its options (the group's shared ones, with
/// its own creation options) and its packed data.
#[napi(object)]
pub struct NativeGroupArray {
    pub name: String,
    pub options: NativeSaveOptions,
    pub data: Option<Uint8Array>,
    pub strings: Option<Vec<String>>,
}

/// What a group save wrote to one array.
#[napi(object)]
pub struct NativeGroupResult {
    pub name: String,
    pub result: NativeSaveResult,
}

fn run_group(
    group: String,
    arrays: &mut [NativeGroupArray],
    control: Arc<Control>,
) -> std::result::Result<Vec<NativeGroupResult>, SaveError> {
    let mut parts = Vec::new();
    let mut shared: Option<SaveRequest> = None;
    for a in arrays.iter_mut() {
        let strings = a.strings.take();
        let (req, dtype, shape) = request(a.options.clone())?;
        parts.push((
            a.name.clone(),
            req.dtype,
            req.create.clone(),
            dtype,
            shape,
            strings,
        ));
        shared.get_or_insert(req);
    }
    let shared = shared
        .ok_or_else(|| SaveError::InvalidData("a group save needs at least one array".into()))?;
    let request = GroupRequest {
        location: shared.location,
        store: shared.store,
        group,
        approach: shared.approach,
        axis: shared.axis,
        selection: shared.selection,
        zarr_format: shared.create.zarr_format,
        threads: shared.threads,
        max_chunk_bytes: shared.max_chunk_bytes,
    };
    let mut group_arrays = Vec::new();
    for ((name, target, create, dtype, shape, strings), a) in parts.into_iter().zip(arrays.iter()) {
        group_arrays.push(GroupArray {
            name,
            data: nd_data(dtype, shape, a.data.as_deref(), strings)?,
            dtype: target,
            create,
        });
    }
    Ok(save_group_core(&request, group_arrays, control)?
        .into_iter()
        .map(|(name, o)| NativeGroupResult {
            name,
            result: result(o),
        })
        .collect())
}

/// The work of one `saveGroup`, run on the libuv pool.
pub struct GroupTask {
    group: String,
    arrays: Vec<NativeGroupArray>,
    control: Arc<Control>,
}

impl Task for GroupTask {
    type Output = Vec<NativeGroupResult>;
    type JsValue = Vec<NativeGroupResult>;

    fn compute(&mut self) -> Result<Self::Output> {
        // The JS caller keeps every array's data untouched until the Promise settles.
        guarded(|| run_group(self.group.clone(), &mut self.arrays, self.control.clone()))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Save several arrays of `group` in one commit, on a worker thread.
#[napi(ts_return_type = "Promise<Array<NativeGroupResult>>")]
pub fn save_group(
    env: Env,
    group: String,
    arrays: Vec<NativeGroupArray>,
    control: Option<&SaveControl>,
) -> AsyncTask<GroupTask> {
    finish_removals_at_exit(&env);
    AsyncTask::new(GroupTask {
        group,
        arrays,
        control: control_of(control),
    })
}

/// [`save_group`] on the calling thread.
#[napi]
pub fn save_group_sync(
    env: Env,
    group: String,
    mut arrays: Vec<NativeGroupArray>,
    control: Option<&SaveControl>,
) -> Result<Vec<NativeGroupResult>> {
    finish_removals_at_exit(&env);
    guarded(|| run_group(group, &mut arrays, control_of(control)))
}

fn result(o: SaveOutcome) -> NativeSaveResult {
    NativeSaveResult {
        shape: o.shape.iter().map(|&v| v as i64).collect(),
        dtype: o.dtype.into(),
        region: o
            .region
            .iter()
            .map(|&(a, b)| vec![a as i64, b as i64])
            .collect(),
        created: o.created,
        snapshot_id: o.snapshot_id,
    }
}

/// The work of one `save`, run on the libuv pool.
pub struct SaveTask {
    options: Option<NativeSaveOptions>,
    control: Arc<Control>,
    data: Option<Uint8Array>,
    strings: Option<Vec<String>>,
}

impl Task for SaveTask {
    type Output = NativeSaveResult;
    type JsValue = NativeSaveResult;

    fn compute(&mut self) -> Result<Self::Output> {
        // The JS caller keeps `data` alive and untouched until the Promise settles.
        let data = self.data.as_deref();
        let options = self
            .options
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "a save task runs once"))?;
        let strings = self.strings.take();
        guarded(|| run(options, self.control.clone(), data, strings, false).map(result))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Files displaced by saves are removed in the background; make this JS thread's
/// environment wait for that when it shuts down, so none stay behind.
fn finish_removals_at_exit(env: &Env) {
    thread_local!(static HOOKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if !HOOKED.replace(true) {
        let _ = env.add_env_cleanup_hook((), |()| {
            let _ = guarded(|| {
                finish_removals();
                Ok(())
            });
        });
    }
}

/// Wait until the files displaced by earlier saves are removed: afterwards the
/// datasets hold only their own files. Node does this at exit; tests call it before
/// comparing directory trees.
#[napi]
pub fn settle_files() -> Result<()> {
    guarded(|| {
        finish_removals();
        Ok(())
    })
}

/// Save on a worker thread; resolves with what was written.
#[napi(ts_return_type = "Promise<NativeSaveResult>")]
pub fn save(
    env: Env,
    options: NativeSaveOptions,
    data: Option<Uint8Array>,
    strings: Option<Vec<String>>,
    control: Option<&SaveControl>,
) -> AsyncTask<SaveTask> {
    finish_removals_at_exit(&env);
    AsyncTask::new(SaveTask {
        options: Some(options),
        control: control_of(control),
        data,
        strings,
    })
}

/// Save on the calling thread.
#[napi]
pub fn save_sync(
    env: Env,
    options: NativeSaveOptions,
    data: Option<Uint8Array>,
    strings: Option<Vec<String>>,
    control: Option<&SaveControl>,
) -> Result<NativeSaveResult> {
    finish_removals_at_exit(&env);
    guarded(|| run(options, control_of(control), data.as_deref(), strings, true).map(result))
}

/// Where to reserve rows, and how many.
#[napi(object)]
pub struct NativeReserveOptions {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    pub dataset: String,
    /// Rows to add after the last row of axis 0; 0 only describes the array.
    pub rows: i64,
    /// Object-store client options, snake_case keys.
    pub storage_options: Option<std::collections::HashMap<String, String>>,
    /// Sync before resolving, so the reservation survives a power cut.
    pub durable: bool,
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

fn run_reserve(o: NativeReserveOptions) -> std::result::Result<NativeReservation, SaveError> {
    let rows = u64::try_from(o.rows).map_err(|_| {
        SaveError::InvalidArgument(format!("rows must not be negative; got {}", o.rows))
    })?;
    let r = reserve_core(&ReserveRequest {
        location: o.location,
        store: StoreOptions {
            storage_options: o.storage_options.unwrap_or_default().into_iter().collect(),
            concurrency: None,
            durable: o.durable,
            // Rows are reserved in plain stores only: a queue run into an Icechunk
            // repository returns its results through the queue.
            icechunk: None,
        },
        dataset: o.dataset,
        rows,
        stored: o.stored.unwrap_or(false),
    })?;
    let ints = |v: &[u64]| v.iter().map(|&n| n as i64).collect();
    Ok(NativeReservation {
        start: r.start as i64,
        shape: ints(&r.shape),
        dtype: r.dtype.into(),
        chunk_shape: ints(&r.chunk_shape),
        stored_chunk_rows: r.stored_chunk_rows.as_deref().map(ints),
    })
}

/// The work of one `reserve`, run on the libuv pool.
pub struct ReserveTask {
    options: Option<NativeReserveOptions>,
}

impl Task for ReserveTask {
    type Output = NativeReservation;
    type JsValue = NativeReservation;

    fn compute(&mut self) -> Result<Self::Output> {
        let options = self
            .options
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "a reserve task runs once"))?;
        guarded(|| run_reserve(options))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Grow an existing array's axis 0 by `rows` rows without writing data (they read
/// as the fill value until updated), on a worker thread.
#[napi(ts_return_type = "Promise<NativeReservation>")]
pub fn reserve(env: Env, options: NativeReserveOptions) -> AsyncTask<ReserveTask> {
    finish_removals_at_exit(&env);
    AsyncTask::new(ReserveTask {
        options: Some(options),
    })
}

/// [`reserve`] on the calling thread.
#[napi]
pub fn reserve_sync(env: Env, options: NativeReserveOptions) -> Result<NativeReservation> {
    finish_removals_at_exit(&env);
    guarded(|| run_reserve(options))
}
