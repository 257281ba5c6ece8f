//! The rules of the three approaches (append / overwrite / update): what each may
//! do to what it finds, and what it writes. The commit protocol (lock, stage,
//! publish chunks then metadata, discard on failure) is the [`Transaction`]'s.

use std::sync::Arc;

use serde_json::Value;
use zarrs::array::CodecOptions;

use crate::consolidated::{self, NodeDocs};
use crate::control::Control;
use crate::data::NdData;
use crate::dtype::DType;
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Existing, Node};
use crate::lock::with_dataset_lock;
use crate::metadata::{self, CreateOptions};
use crate::recovery::{self, restore};
use crate::selection::{self, AxisSelection};
use crate::store::{Container, StoreOptions, Transaction, Version};
use crate::tail_cache::TailCache;
use crate::threads;
use crate::write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    Append,
    Overwrite,
    Update,
}

/// Everything a save needs besides the data; the core checks it before writing.
#[derive(Debug, Clone)]
pub struct SaveRequest {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    /// Object-store client options and upload concurrency.
    pub store: StoreOptions,
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
    /// Encoding threads (`None`: one per core).
    pub threads: Option<usize>,
    /// An update whose chunks no other writer touches (the caller's guarantee:
    /// chunk-aligned, disjoint writes): on an object store it takes no lease and
    /// runs beside other saves of the dataset in this process. Ignored otherwise.
    pub exclusive_chunks: bool,
    /// Whether a small append may run on the calling thread instead of the pool.
    /// Callers on a thread whose malloc arena they share with a runtime (Node's
    /// main thread) say no: c-blosc's aligned ~1 MiB buffers fragment that heap.
    pub inline_small_appends: bool,
    /// Largest decoded chunk (shard, when sharded) the save may hold in memory.
    pub max_chunk_bytes: u64,
}

impl SaveRequest {
    /// A request with every option at its default: zarr v3, default chunks and
    /// compressor, one thread per core, no selection.
    pub fn new(
        location: impl Into<String>,
        dataset: impl Into<String>,
        approach: Approach,
    ) -> Self {
        Self {
            location: location.into(),
            store: StoreOptions::default(),
            dataset: dataset.into(),
            approach,
            axis: 0,
            selection: None,
            dtype: None,
            create: CreateOptions::default(),
            threads: None,
            exclusive_chunks: false,
            inline_small_appends: true,
            max_chunk_bytes: crate::bounds::DEFAULT_MAX_CHUNK_BYTES,
        }
    }
}

/// What a save did.
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

/// Rejects names that could escape the container or alias another node.
pub fn validate_dataset_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(SaveError::InvalidArgument(format!(
            "datasetName {name:?} {why}"
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

fn codec_options(threads: usize) -> CodecOptions {
    CodecOptions::default().with_concurrent_target(threads)
}

/// Save `data` as the request says.
pub fn save(req: &SaveRequest, data: NdData<'_>) -> Result<SaveOutcome> {
    save_with_control(req, data, Arc::new(Control::default()))
}

/// [`save`] with a [`Control`] the caller can read progress from and cancel through.
/// Saves to one dataset are serialised: in-process by a mutex (in call order from
/// the facade's queue), across processes by a lock on the dataset directory.
pub fn save_with_control(
    req: &SaveRequest,
    data: NdData<'_>,
    control: Arc<Control>,
) -> Result<SaveOutcome> {
    validate(req, &data)?;
    let pool = threads::pool(req.threads)?;
    let options = codec_options(pool.current_num_threads());
    // A small append touches one or two chunks: handing it to the pool costs more than it saves.
    let small = req.inline_small_appends
        && req.approach == Approach::Append
        && data.num_elements() * data.dtype().size().unwrap_or(32) as u64 <= SMALL_APPEND_BYTES;
    let attempt = || {
        let container = Container::open(&req.location, &req.store, control.clone())?;
        if req.exclusive_chunks && req.approach == Approach::Update {
            if let Some(txn) = Transaction::begin_exclusive_chunks(&container, &req.dataset) {
                return pool.install(|| save_locked(req, txn, data.clone(), &options, &control));
            }
        }
        let lock_key = format!("{}\u{0}{}", container.id, req.dataset);
        let run = || {
            let create = req.approach != Approach::Update;
            let Some(txn) = Transaction::begin(&container, &req.dataset, create)? else {
                return Err(not_found(req));
            };
            save_locked(req, txn, data.clone(), &options, &control)
        };
        let mut outcome =
            with_dataset_lock(&lock_key, || if small { run() } else { pool.install(run) })?;
        outcome.snapshot_id = container.snapshot_id();
        Ok(outcome)
    };
    retry_conflicts(req.store.icechunk.is_some(), attempt)
}

/// Run a save; on an Icechunk repository, run it again from a fresh session when a
/// concurrent commit changed what it read (an append's row count above all), a
/// bounded number of times with growing, jittered pauses.
pub(crate) fn retry_conflicts<T>(icechunk: bool, attempt: impl Fn() -> Result<T>) -> Result<T> {
    const ATTEMPTS: u32 = 12;
    let mut tries = 1;
    loop {
        match attempt() {
            Err(SaveError::Conflict(_)) if icechunk && tries < ATTEMPTS => {
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos() as u64 % 50);
                let pause = 20 * u64::from(tries.min(8)) + jitter;
                std::thread::sleep(std::time::Duration::from_millis(pause));
                tries += 1;
            }
            Err(SaveError::Conflict(m)) if icechunk => {
                return Err(SaveError::Conflict(format!(
                    "{m} (gave up after {ATTEMPTS} attempts)"
                )))
            }
            other => return other,
        }
    }
}

/// Everything about a request that needs no store: checked before the first
/// file-system or network call.
fn validate(req: &SaveRequest, data: &NdData<'_>) -> Result<()> {
    validate_dataset_name(&req.dataset)?;
    if req.store.icechunk.is_some() {
        check_icechunk(req.create.zarr_format, req.create.consolidated)?;
    }
    if req.approach == Approach::Overwrite {
        // Overwrite always creates: its whole array can be checked now.
        let dtype = req.dtype.unwrap_or(data.dtype());
        metadata::new_array(
            &req.dataset,
            &data.shape,
            dtype,
            &req.create,
            req.max_chunk_bytes,
        )?;
    }
    Ok(())
}

/// What an Icechunk repository holds: Zarr v3 nodes, listed by the repository itself.
pub(crate) fn check_icechunk(zarr_format: u32, consolidated: bool) -> Result<()> {
    if zarr_format != 3 {
        return Err(SaveError::InvalidArgument(format!(
            "zarrFormat {zarr_format}: an Icechunk repository holds Zarr v3 only"
        )));
    }
    if consolidated {
        return Err(SaveError::InvalidArgument(
            "consolidated: an Icechunk repository lists its nodes itself and takes no consolidated metadata".into(),
        ));
    }
    Ok(())
}

/// The commit of an array's new metadata `meta` (an append's or a reservation's new
/// shape), with every consolidated copy in `copies` rewritten in the same commit.
fn commit_metadata(
    txn: &mut Transaction<'_>,
    dataset: &str,
    (key, version): (&str, &Version),
    meta: &Value,
    copies: &[String],
    format: u32,
) -> Result<()> {
    txn.lock_groups(copies)?;
    let update = NodeDocs {
        node: dataset.to_string(),
        docs: vec![(key.to_string(), meta.clone())],
        new: false,
    };
    txn.commit(Some((key, meta, version)), |c| {
        consolidated::docs(c, copies, format, &update)
    })
}

/// Appends up to this size run on the calling thread.
const SMALL_APPEND_BYTES: u64 = 1 << 20;

fn not_found(req: &SaveRequest) -> SaveError {
    SaveError::NotFound(format!(
        "dataset '{}' does not exist in '{}'; update needs an existing array",
        req.dataset,
        crate::store::redact(&req.location)
    ))
}

fn save_locked(
    req: &SaveRequest,
    mut txn: Transaction<'_>,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let dataset = req.dataset.as_str();
    recovery::finish_interrupted(&mut txn)?;
    let node = match hierarchy::read_node_bounded(txn.container(), dataset, req.max_chunk_bytes) {
        // Overwrite is the way out of a damaged dataset: it replaces whatever is there.
        Err(SaveError::Corrupt(_)) if req.approach == Approach::Overwrite => Node::Missing,
        other => other?,
    };
    let node = match node {
        Node::Array(existing) if txn.recovered() => {
            Node::Array(restore(&mut txn, dataset, existing)?)
        }
        other => other,
    };
    match (req.approach, node) {
        (_, Node::Group) => Err(SaveError::InvalidArgument(format!(
            "datasetName '{dataset}' is a group, not an array"
        ))),
        (Approach::Append, Node::Array(existing)) => {
            append(req, txn, existing, data, options, control)
        }
        (Approach::Append | Approach::Overwrite, node) => {
            let replaces = matches!(node, Node::Array(_));
            create(req, txn, replaces, data, options, control)
        }
        (Approach::Update, Node::Missing) => Err(not_found(req)),
        (Approach::Update, Node::Array(existing)) => {
            update(req, txn, existing, data, options, control)
        }
    }
}

fn full_region(shape: &[u64]) -> Vec<(u64, u64)> {
    shape.iter().map(|&n| (0, n)).collect()
}

/// A new array, written whole and published at once in place of whatever is at
/// `dataset` (nothing, an old array, a crashed create's debris). Everything is
/// checked before the first write: the metadata, and zarrs' reading of it.
fn create(
    req: &SaveRequest,
    mut txn: Transaction<'_>,
    replaces: bool,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let dataset = req.dataset.as_str();
    let dtype = req.dtype.unwrap_or(data.dtype());
    let data = data.cast(dtype)?;
    let new = metadata::new_array(
        dataset,
        &data.shape,
        dtype,
        &req.create,
        req.max_chunk_bytes,
    )?;
    hierarchy::open_array(txn.container(), dataset, &new.main)?;
    let format = req.create.zarr_format;
    let groups = hierarchy::missing_groups(txn.container(), dataset, format)?;
    let copies = consolidated::groups_with_copies(txn.container(), dataset, format)?;
    // Asked for, and none at the root yet: the root gets one once the array is in.
    let new_root_copy = req.create.consolidated && !copies.iter().any(String::is_empty);
    let mut locked = copies.clone();
    if new_root_copy {
        locked.push(String::new());
    }
    txn.lock_groups(&locked)?;
    if replaces {
        txn.mark("overwrite")?;
    }
    let mut docs = groups.clone();
    docs.extend(new.documents(dataset, format));
    let update = NodeDocs {
        node: dataset.to_string(),
        docs,
        new: true,
    };
    txn.container().describe(|| {
        format!(
            "zarr-saver: {} '{dataset}' with shape {:?}",
            if req.approach == Approach::Overwrite {
                "overwrite"
            } else {
                "create"
            },
            data.shape
        )
    });
    txn.create(&groups, |staging, path| {
        let node = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            }
        };
        let key = if req.create.zarr_format == 2 {
            ".zarray"
        } else {
            "zarr.json"
        };
        let array = hierarchy::open_array(staging, path, &new.main)?;
        staging.declare(&node(key), &new.main)?;
        write::write_region(&array, &vec![0; data.shape.len()], &data, options, control)?;
        control.check()?;
        if let Some(attrs) = &new.v2_attributes {
            staging.put_json(&node(".zattrs"), attrs)?;
        }
        staging.put_json(&node(key), &new.main)
    })?;
    txn.commit(None, |c| {
        let mut docs = consolidated::docs(c, &copies, format, &update)?;
        if new_root_copy {
            docs.push(consolidated::new_root_copy(c, format, &[])?);
        }
        Ok(docs)
    })?;
    Ok(SaveOutcome {
        region: full_region(&data.shape),
        shape: data.shape,
        dtype,
        created: true,
        snapshot_id: None,
    })
}

fn check_requested_dtype(req: &SaveRequest, existing: &Existing) -> Result<()> {
    check_dtype(req.dtype, existing, &format!("dataset '{}'", req.dataset))
}

/// A dtype asked for must be the stored one: a second cast target would make the
/// stored type ambiguous. `what` names the array in the message.
pub(crate) fn check_dtype(requested: Option<DType>, existing: &Existing, what: &str) -> Result<()> {
    match requested {
        Some(d) if d != existing.dtype => Err(SaveError::DtypeMismatch(format!(
            "dtype '{}' differs from the stored dtype '{}' of {what}",
            d.name(),
            existing.dtype.name(),
        ))),
        _ => Ok(()),
    }
}

/// The rules of an update, for one array: `data` must have the selection's shape
/// (numpy's, or with every axis kept) and cast to the stored dtype. Returns the data
/// in the selection's full shape and the resolved selection. `what` names the array.
pub(crate) fn fit_update<'a>(
    data: NdData<'a>,
    requested: Option<DType>,
    existing: &Existing,
    selection: &[AxisSelection],
    what: &str,
) -> Result<(NdData<'a>, selection::Resolved)> {
    check_dtype(requested, existing, what)?;
    let resolved = selection::resolve(selection, &existing.shape)?;
    let (numpy_shape, full_shape) = (resolved.numpy_shape(), resolved.full_shape());
    if data.shape != numpy_shape && data.shape != full_shape {
        return Err(SaveError::ShapeMismatch(format!(
            "data of shape {:?} does not match the selection's shape {numpy_shape:?} in {what} of shape {:?}",
            data.shape, existing.shape
        )));
    }
    let mut data = data.cast(existing.dtype)?;
    data.shape = full_shape;
    Ok((data, resolved))
}

fn append(
    req: &SaveRequest,
    mut txn: Transaction<'_>,
    existing: Existing,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    check_requested_dtype(req, &existing)?;
    let old = &existing.shape;
    let axis = req.axis;
    if axis >= old.len() {
        return Err(SaveError::InvalidArgument(format!(
            "axis {axis} is out of range for an array of {} dimensions",
            old.len()
        )));
    }
    let fits = data.shape.len() == old.len()
        && (0..old.len()).all(|d| d == axis || data.shape[d] == old[d]);
    if !fits {
        let mut expected: Vec<String> = old.iter().map(u64::to_string).collect();
        expected[axis] = "*".into();
        return Err(SaveError::ShapeMismatch(format!(
            "data of shape {:?} cannot be appended along axis {axis} to dataset '{}' of shape {old:?}; expected [{}]",
            data.shape,
            req.dataset,
            expected.join(", ")
        )));
    }
    let data = data.cast(existing.dtype)?;
    let shape = crate::bounds::grown(old, axis, data.shape[axis], &req.dataset)?;
    let format = existing.zarr_format();
    let mut meta = existing.meta;
    meta["shape"] = serde_json::json!(shape);
    let array = hierarchy::open_array(txn.container(), &req.dataset, &meta)?;
    let mut start = vec![0; shape.len()];
    start[axis] = old[axis];
    let tails = tail_cache(txn.container(), &meta, existing.dtype);
    let copies = consolidated::groups_with_copies(txn.container(), &req.dataset, format)?;
    // The metadata's temp file comes first (the save's sign, should it crash); the
    // consolidated copies' and a small append's chunk temp files get created too
    // while its chunks encode.
    let mut keys = vec![crate::store::key(&existing.key)?];
    for group in &copies {
        keys.push(crate::store::key(&consolidated::copy_key(group, format))?);
    }
    keys.extend(
        write::chunk_keys(&array, &start, &data.shape, PREPARED_CHUNKS).unwrap_or_default(),
    );
    txn.prepare(keys);
    txn.container().declare(&existing.key, &meta)?;
    txn.container().describe(|| {
        format!(
            "zarr-saver: append rows {}..{} along axis {axis} to '{}'",
            old[axis], shape[axis], req.dataset
        )
    });
    write::write_region_cached(&array, &start, &data, options, control, tails.as_ref())?;
    // The commit: until this rename lands, readers see the old shape.
    control.check()?;
    commit_metadata(
        &mut txn,
        &req.dataset,
        (&existing.key, &existing.version),
        &meta,
        &copies,
        format,
    )?;
    if let Some(tails) = tails {
        tails.commit();
    }
    let region = (0..shape.len())
        .map(|d| (start[d], start[d] + data.shape[d]))
        .collect();
    Ok(SaveOutcome {
        shape,
        dtype: existing.dtype,
        region,
        created: false,
        snapshot_id: None,
    })
}

/// Appends touching up to this many chunks prepare their temp files ahead.
pub(crate) const PREPARED_CHUNKS: usize = 4;

/// Appends to arrays of fixed-size elements in plain (unsharded) chunks, in a store
/// that stamps its chunks (local, Icechunk), keep their decoded tail chunk for the
/// next append.
pub(crate) fn tail_cache(container: &Container, meta: &Value, dtype: DType) -> Option<TailCache> {
    let sharded = meta
        .get("codecs")
        .and_then(Value::as_array)
        .is_some_and(|codecs| {
            codecs
                .iter()
                .any(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
        });
    (container.stamps_chunks() && dtype.size().is_some() && !sharded)
        .then(|| TailCache::new(container, meta))
}

fn update(
    req: &SaveRequest,
    mut txn: Transaction<'_>,
    existing: Existing,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let selection = req.selection.as_ref().ok_or_else(|| {
        SaveError::IndicesRequired("update needs indices: the positions to overwrite".into())
    })?;
    let what = format!("dataset '{}'", req.dataset);
    let (data, resolved) = fit_update(data, req.dtype, &existing, selection, &what)?;
    let array = hierarchy::open_array(txn.container(), &req.dataset, &existing.meta)?;
    txn.mark("update")?;
    txn.container().describe(|| {
        let bounds: Vec<String> = resolved
            .axes
            .iter()
            .map(|p| {
                let (a, b) = p.bounds();
                format!("{a}..{b}")
            })
            .collect();
        format!(
            "zarr-saver: update [{}] of '{}'",
            bounds.join(", "),
            req.dataset
        )
    });
    write::write_resolved(
        &array,
        &existing.chunk_shape,
        &resolved,
        &data,
        options,
        control,
    )?;
    control.check()?;
    // An update changes no metadata: no consolidated copy changes either.
    txn.commit(None, |_| Ok(Vec::new()))?;
    let region = resolved.axes.iter().map(|p| p.bounds()).collect();
    Ok(SaveOutcome {
        shape: existing.shape,
        dtype: existing.dtype,
        region,
        created: false,
        snapshot_id: None,
    })
}

/// A request to grow an existing array's axis 0 without writing data.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// Local directory of the Zarr hierarchy, or an object-store URL.
    pub location: String,
    /// Object-store client options and upload concurrency.
    pub store: StoreOptions,
    /// `/`-separated path of the array inside it.
    pub dataset: String,
    /// Rows to add after the last row of axis 0 (0: only describe the array).
    pub rows: u64,
    /// Also list the chunk rows whose chunks are all stored (one existence check per chunk).
    pub stored: bool,
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

/// Grow the array's axis 0 by `rows` rows that hold the fill value until written,
/// with the commit protocol of an append (the writer lock, a conditional metadata
/// write, every consolidated copy rewritten in the same commit) but no chunk:
/// writers fill the rows later with updates, each its own whole chunks, in any
/// order. Reserving 0 rows describes the array and commits nothing.
pub fn reserve(req: &ReserveRequest) -> Result<Reservation> {
    validate_dataset_name(&req.dataset)?;
    let container = Container::open(&req.location, &req.store, Arc::new(Control::default()))?;
    let lock_key = format!("{}\u{0}{}", container.id, req.dataset);
    let missing = || {
        SaveError::NotFound(format!(
            "dataset '{}' does not exist in '{}'; rows are reserved in an existing array",
            req.dataset,
            crate::store::redact(&req.location)
        ))
    };
    with_dataset_lock(&lock_key, || {
        let Some(mut txn) = Transaction::begin(&container, &req.dataset, false)? else {
            return Err(missing());
        };
        let existing = match hierarchy::read_node(txn.container(), &req.dataset)? {
            Node::Array(existing) if txn.recovered() => restore(&mut txn, &req.dataset, existing)?,
            Node::Array(existing) => existing,
            Node::Group => {
                return Err(SaveError::InvalidArgument(format!(
                    "datasetName '{}' is a group, not an array",
                    req.dataset
                )))
            }
            Node::Missing => return Err(missing()),
        };
        if existing.shape.is_empty() {
            return Err(SaveError::InvalidArgument(format!(
                "dataset '{}' has no axis 0 to reserve rows on (a 0-d array)",
                req.dataset
            )));
        }
        let start = existing.shape[0];
        let mut shape = existing.shape.clone();
        shape[0] = start.checked_add(req.rows).ok_or_else(|| {
            SaveError::InvalidArgument(format!("reserving {} rows overflows axis 0", req.rows))
        })?;
        let stored_chunk_rows = if req.stored {
            Some(stored_chunk_rows(txn.container(), &req.dataset, &existing)?)
        } else {
            None
        };
        let reservation = Reservation {
            start,
            shape: shape.clone(),
            dtype: existing.dtype,
            chunk_shape: existing.chunk_shape.clone(),
            stored_chunk_rows,
        };
        if req.rows == 0 {
            return Ok(reservation);
        }
        let format = existing.zarr_format();
        let mut meta = existing.meta;
        meta["shape"] = serde_json::json!(shape);
        hierarchy::open_array(txn.container(), &req.dataset, &meta)?;
        txn.prepare(vec![crate::store::key(&existing.key)?]);
        let copies = consolidated::groups_with_copies(txn.container(), &req.dataset, format)?;
        commit_metadata(
            &mut txn,
            &req.dataset,
            (&existing.key, &existing.version),
            &meta,
            &copies,
            format,
        )?;
        Ok(reservation)
    })
}

/// Indices along axis 0 of the chunk rows whose every chunk exists in the store.
fn stored_chunk_rows(
    container: &Container,
    dataset: &str,
    existing: &Existing,
) -> Result<Vec<u64>> {
    let array = hierarchy::open_array(container, dataset, &existing.meta)?;
    let grid: Vec<u64> = existing
        .shape
        .iter()
        .zip(&existing.chunk_shape)
        .map(|(&n, &c)| n.div_ceil(c.max(1)))
        .collect();
    let rest = &grid[1..];
    let per_row: u64 = rest.iter().product();
    let mut rows = Vec::new();
    for row in 0..grid[0] {
        let mut all = true;
        for flat in 0..per_row {
            let mut index = vec![0; grid.len()];
            index[0] = row;
            let mut f = flat;
            for d in (0..rest.len()).rev() {
                index[d + 1] = f % rest[d];
                f /= rest[d];
            }
            let key = array.chunk_key(&index);
            let size = container
                .storage
                .size_key(&key)
                .map_err(|e| SaveError::store("looking up a chunk", e))?;
            if size.is_none() {
                all = false;
                break;
            }
        }
        if all {
            rows.push(row);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod retry_tests {
    use super::retry_conflicts;
    use crate::error::SaveError;
    use std::cell::Cell;

    #[test]
    fn icechunk_conflicts_are_retried_then_reported() {
        let runs = Cell::new(0);
        let lost = || {
            runs.set(runs.get() + 1);
            Err::<(), _>(SaveError::Conflict("lost".into()))
        };
        let err = retry_conflicts(true, lost).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CONFLICT");
        assert_eq!(runs.get(), 12);
        // A plain store's conflict is reported at once; a later win is a win.
        runs.set(0);
        assert!(retry_conflicts(false, lost).is_err());
        assert_eq!(runs.get(), 1);
        runs.set(0);
        let third_wins = || {
            runs.set(runs.get() + 1);
            if runs.get() < 3 {
                Err(SaveError::Conflict("lost".into()))
            } else {
                Ok(runs.get())
            }
        };
        assert_eq!(retry_conflicts(true, third_wins).unwrap(), 3);
    }
}
