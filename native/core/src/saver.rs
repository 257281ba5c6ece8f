//! The three approaches (append / overwrite / update) over one write path.
//! Order everywhere: validate, write chunks, then commit metadata last, so a failed or
//! interrupted save leaves the previous metadata (and so the previous array) in force.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, CodecOptions};

use crate::control::Control;
use crate::data::NdData;
use crate::dtype::DType;
use crate::error::{from_open_error, Result, SaveError};
use crate::lock::with_dataset_lock;
use crate::metadata::{self, CreateOptions};
use crate::selection::{self, AxisSelection};
use crate::store::{Container, StoreOptions, Version};
use crate::tail_cache::TailCache;
use crate::threads;
use crate::write::{self, ZArray};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    Append,
    Overwrite,
    Update,
}

impl Approach {
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "append" => Ok(Self::Append),
            "overwrite" => Ok(Self::Overwrite),
            "update" => Ok(Self::Update),
            other => Err(SaveError::InvalidArgument(format!(
                "approach must be 'append', 'overwrite' or 'update'; got '{other}'"
            ))),
        }
    }
}

/// Everything a save needs besides the data, already validated by the facade.
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
    /// Whether a small append may run on the calling thread instead of the pool.
    /// Callers on a thread whose malloc arena they share with a runtime (Node's
    /// main thread) say no: c-blosc's aligned ~1 MiB buffers fragment that heap.
    pub inline_small_appends: bool,
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
            inline_small_appends: true,
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
}

/// Rejects names that could escape the container or alias another node.
pub fn validate_dataset_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(SaveError::InvalidArgument(format!(
            "datasetName '{}' {why}",
            name.escape_debug()
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
            s if s.starts_with(".z")
                || s == "zarr.json"
                || s.starts_with(crate::store::TEMP_PREFIX) =>
            {
                return bad("uses a name reserved by Zarr")
            }
            _ => {}
        }
    }
    Ok(())
}

/// Metadata of an array already in the store, kept as raw JSON so that a later
/// commit changes `shape` and nothing else.
struct Existing {
    key: String,
    meta: Value,
    version: Version,
    dtype: DType,
    shape: Vec<u64>,
    chunk_shape: Vec<u64>,
}

enum Node {
    Missing,
    Group,
    Array(Existing),
}

fn shape_of(meta: &Value, field: &str, dataset: &str) -> Result<Vec<u64>> {
    meta.get(field)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            SaveError::Corrupt(format!(
                "metadata of dataset '{dataset}' has no valid '{field}'"
            ))
        })
}

fn read_node(container: &Container, dataset: &str) -> Result<Node> {
    let v3_key = format!("{dataset}/zarr.json");
    if let Some((meta, version)) = container.get_json_versioned(&v3_key)? {
        if meta.get("node_type").and_then(Value::as_str) == Some("group") {
            return Ok(Node::Group);
        }
        let grid = meta.get("chunk_grid").cloned().unwrap_or(Value::Null);
        if grid.get("name").and_then(Value::as_str) != Some("regular") {
            return Err(SaveError::Unsupported(format!(
                "dataset '{dataset}' uses chunk grid {grid}; zarr-saver writes regular grids only"
            )));
        }
        let chunk_shape = shape_of(&grid["configuration"], "chunk_shape", dataset)?;
        return existing(v3_key, meta, version, chunk_shape, dataset);
    }
    let v2_key = format!("{dataset}/.zarray");
    if let Some((meta, version)) = container.get_json_versioned(&v2_key)? {
        let chunk_shape = shape_of(&meta, "chunks", dataset)?;
        return existing(v2_key, meta, version, chunk_shape, dataset);
    }
    if container.get_json(&format!("{dataset}/.zgroup"))?.is_some() {
        return Ok(Node::Group);
    }
    Ok(Node::Missing)
}

fn existing(
    key: String,
    meta: Value,
    version: Version,
    chunk_shape: Vec<u64>,
    dataset: &str,
) -> Result<Node> {
    Ok(Node::Array(Existing {
        shape: shape_of(&meta, "shape", dataset)?,
        dtype: DType::from_metadata(&meta, dataset)?,
        key,
        meta,
        version,
        chunk_shape,
    }))
}

/// A zarrs array over `meta` (which zarrs validates: codecs, dtype, fill value).
fn open_array(container: &Container, dataset: &str, meta: &Value) -> Result<ZArray> {
    let parsed = if meta.get("zarr_format").and_then(Value::as_u64) == Some(2) {
        ArrayMetadataV2::deserialize(meta).map(ArrayMetadata::V2)
    } else {
        ArrayMetadataV3::deserialize(meta).map(ArrayMetadata::V3)
    }
    .map_err(|e| SaveError::Corrupt(format!("metadata of dataset '{dataset}' is invalid: {e}")))?;
    let storage = container.storage.clone();
    Array::new_with_metadata(storage, &format!("/{dataset}"), parsed)
        .map_err(|e| from_open_error(dataset, e))
}

/// Give every ancestor of `dataset` group metadata, so `open_group(filePath)` lists it.
fn ensure_groups(container: &Container, dataset: &str, zarr_format: u8) -> Result<()> {
    let segments: Vec<&str> = dataset.split('/').collect();
    for depth in 0..segments.len() {
        let parent = segments[..depth].join("/");
        let prefix = if parent.is_empty() {
            String::new()
        } else {
            format!("{parent}/")
        };
        let v3 = container.get_json(&format!("{prefix}zarr.json"))?;
        if let Some(meta) = &v3 {
            if meta.get("node_type").and_then(Value::as_str) != Some("group") {
                return Err(SaveError::InvalidArgument(format!(
                    "datasetName '{dataset}': '{}' is an array, not a group",
                    if parent.is_empty() {
                        "filePath"
                    } else {
                        &parent
                    }
                )));
            }
            continue;
        }
        if container.get_json(&format!("{prefix}.zgroup"))?.is_some() {
            continue;
        }
        if container.get_json(&format!("{prefix}.zarray"))?.is_some() {
            return Err(SaveError::InvalidArgument(format!(
                "datasetName '{dataset}': '{parent}' is an array, not a group"
            )));
        }
        if zarr_format == 2 {
            container.put_json(
                &format!("{prefix}.zgroup"),
                &serde_json::json!({"zarr_format": 2}),
            )?;
        } else {
            container.put_json(
                &format!("{prefix}zarr.json"),
                &serde_json::json!({"zarr_format": 3, "node_type": "group", "attributes": {}}),
            )?;
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
    validate_dataset_name(&req.dataset)?;
    let pool = threads::pool(req.threads)?;
    let options = codec_options(pool.current_num_threads());
    let container = Container::open(&req.location, &req.store, control.clone())?;
    let lock_key = format!("{}\u{0}{}", container.id, req.dataset);
    // A small append touches one or two chunks: handing it to the pool costs more than it saves.
    let small = req.inline_small_appends
        && req.approach == Approach::Append
        && data.num_elements() * data.dtype().size().unwrap_or(32) as u64 <= SMALL_APPEND_BYTES;
    let run = || {
        let create = req.approach != Approach::Update;
        let Some(_lock) = container.lock_dataset(&req.dataset, create)? else {
            return Err(not_found(req));
        };
        let result = save_locked(req, &container, data, &options, &control);
        if result.is_err() {
            container.discard();
            container.remove_if_empty(&req.dataset);
        }
        result
    };
    with_dataset_lock(&lock_key, || if small { run() } else { pool.install(run) })
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
    container: &Container,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let dataset = req.dataset.as_str();
    let node = match read_node(container, dataset) {
        // Overwrite is the way out of a damaged dataset: it replaces whatever is there.
        Err(SaveError::Corrupt(_)) if req.approach == Approach::Overwrite => Node::Missing,
        other => other?,
    };
    match (req.approach, node) {
        (_, Node::Group) => Err(SaveError::InvalidArgument(format!(
            "datasetName '{dataset}' is a group, not an array"
        ))),
        (Approach::Append, Node::Array(existing)) => {
            append(req, container, existing, data, options, control)
        }
        (Approach::Append | Approach::Overwrite, _) => {
            create(req, container, data, options, control)
        }
        (Approach::Update, Node::Missing) => Err(not_found(req)),
        (Approach::Update, Node::Array(existing)) => {
            update(req, container, existing, data, options, control)
        }
    }
}

fn full_region(shape: &[u64]) -> Vec<(u64, u64)> {
    shape.iter().map(|&n| (0, n)).collect()
}

/// A new array, written whole into a staging directory and swapped in: whatever was
/// at `dataset` (an old array, or a crashed create's debris) is replaced at once.
fn create(
    req: &SaveRequest,
    container: &Container,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let dataset = req.dataset.as_str();
    let dtype = req.dtype.unwrap_or(data.dtype());
    let data = data.cast(dtype)?;
    let new = metadata::new_array(&data.shape, dtype, &req.create)?;
    ensure_groups(container, dataset, req.create.zarr_format)?;
    container.replace_dataset(dataset, |staging| {
        // In the staging container the array sits at the root.
        let array = open_array(staging, "", &new.main)?;
        write::write_region(&array, &vec![0; data.shape.len()], &data, options, control)?;
        control.check()?;
        if let Some(attrs) = &new.v2_attributes {
            staging.put_json(".zattrs", attrs)?;
        }
        let key = if req.create.zarr_format == 2 {
            ".zarray"
        } else {
            "zarr.json"
        };
        staging.commit_json(key, &new.main, None)
    })?;
    Ok(SaveOutcome {
        region: full_region(&data.shape),
        shape: data.shape,
        dtype,
        created: true,
    })
}

fn check_requested_dtype(req: &SaveRequest, existing: &Existing) -> Result<()> {
    match req.dtype {
        Some(d) if d != existing.dtype => Err(SaveError::DtypeMismatch(format!(
            "dtype '{}' differs from the stored dtype '{}' of dataset '{}'",
            d.name(),
            existing.dtype.name(),
            req.dataset
        ))),
        _ => Ok(()),
    }
}

fn append(
    req: &SaveRequest,
    container: &Container,
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
    let mut shape = old.clone();
    shape[axis] += data.shape[axis];
    let mut meta = existing.meta;
    meta["shape"] = serde_json::json!(shape);
    let array = open_array(container, &req.dataset, &meta)?;
    let mut start = vec![0; shape.len()];
    start[axis] = old[axis];
    let tails = tail_cache(container, &meta, existing.dtype);
    // A small append's temp files get created while its chunks encode.
    if let Some(mut keys) = write::chunk_keys(&array, &start, &data.shape, PREPARED_CHUNKS) {
        keys.push(crate::store::key(&existing.key)?);
        container.prepare(keys);
    }
    write::write_region_cached(&array, &start, &data, options, control, tails.as_ref())?;
    // The commit: until this rename lands, readers see the old shape.
    control.check()?;
    container.commit_json(&existing.key, &meta, Some(&existing.version))?;
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
    })
}

/// Appends touching up to this many chunks prepare their temp files ahead.
const PREPARED_CHUNKS: usize = 4;

/// Appends to local arrays of fixed-size elements in plain (unsharded) chunks keep
/// their decoded tail chunk for the next append.
fn tail_cache(container: &Container, meta: &Value, dtype: DType) -> Option<TailCache> {
    let sharded = meta
        .get("codecs")
        .and_then(Value::as_array)
        .is_some_and(|codecs| {
            codecs
                .iter()
                .any(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
        });
    let root = container.local_root()?;
    (dtype.size().is_some() && !sharded).then(|| TailCache::new(root, meta))
}

fn update(
    req: &SaveRequest,
    container: &Container,
    existing: Existing,
    data: NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<SaveOutcome> {
    let selection = req.selection.as_ref().ok_or_else(|| {
        SaveError::IndicesRequired("update needs indices: the positions to overwrite".into())
    })?;
    check_requested_dtype(req, &existing)?;
    let resolved = selection::resolve(selection, &existing.shape)?;
    let (numpy_shape, full_shape) = (resolved.numpy_shape(), resolved.full_shape());
    if data.shape != numpy_shape && data.shape != full_shape {
        return Err(SaveError::ShapeMismatch(format!(
            "data of shape {:?} does not match the selection's shape {numpy_shape:?} in dataset '{}' of shape {:?}",
            data.shape, req.dataset, existing.shape
        )));
    }
    let mut data = data.cast(existing.dtype)?;
    data.shape = full_shape;
    let array = open_array(container, &req.dataset, &existing.meta)?;
    match resolved.as_rectangle() {
        Some((start, _)) => write::write_region(&array, &start, &data, options, control)?,
        None => write::write_selection(
            &array,
            &existing.chunk_shape,
            &resolved,
            &data,
            options,
            control,
        )?,
    }
    container.flush()?;
    let region = resolved.axes.iter().map(|p| p.bounds()).collect();
    Ok(SaveOutcome {
        shape: existing.shape,
        dtype: existing.dtype,
        region,
        created: false,
    })
}
