//! The napi-rs shell over `zarr-saver-core`: two entry points (`save`, `saveSync`)
//! taking one options object, one byte buffer (or a string list) and nothing else.
//! All validation with user-facing wording lives in the TypeScript facade; errors
//! that reach JS carry their stable code as `CODE[ERRNO]: message`.

#![deny(clippy::all)]

use std::borrow::Cow;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Uint8Array};
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;
use serde_json::{Map, Value};
use zarr_saver_core::{
    finish_removals, save_with_control, Approach, AxisSelection, Compressor, Control,
    CreateOptions, DType, Elements, NdData, SaveError, SaveOutcome, SaveRequest, StoreOptions,
};

// glibc's malloc keeps raising its mmap threshold as chunk buffers (~1 MiB) are freed,
// then serves them from the main thread's heap, which then grows without bound under
// saveSync (~1 MB per small append); mimalloc reuses them and returns memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One axis of an `update` selection.
#[napi(object)]
pub struct NativeAxisSelection {
    /// `"all"`, `"index"`, `"indices"` or `"slice"`.
    pub kind: String,
    pub index: Option<i64>,
    pub indices: Option<Vec<i64>>,
    pub start: Option<i64>,
    pub stop: Option<i64>,
    pub step: Option<i64>,
}

/// Everything the core needs, with defaults already resolved by the facade.
#[napi(object)]
pub struct NativeSaveOptions {
    /// Local directory of the Zarr hierarchy.
    pub location: String,
    pub dataset: String,
    /// `"append"`, `"overwrite"` or `"update"`.
    pub approach: String,
    /// Dtype of the elements in the buffer.
    pub dtype: String,
    pub shape: Vec<i64>,
    /// Stored dtype at creation / required stored dtype later.
    pub target_dtype: Option<String>,
    pub axis: Option<u32>,
    pub selection: Option<Vec<NativeAxisSelection>>,
    pub chunks: Option<Vec<i64>>,
    pub shards: Option<Vec<i64>>,
    /// `"default"`, `"none"` or `"config"` (then `compressor` holds it).
    pub compressor_mode: String,
    pub compressor: Option<Value>,
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
}

/// What a save did.
#[napi(object)]
pub struct NativeSaveResult {
    pub shape: Vec<i64>,
    pub dtype: String,
    /// Per axis `[start, stop)` of the region written.
    pub region: Vec<Vec<i64>>,
    pub created: bool,
}

fn to_napi(err: SaveError) -> Error {
    Error::new(Status::GenericFailure, err.to_wire())
}

fn dims(values: &[i64], field: &str) -> std::result::Result<Vec<u64>, SaveError> {
    values
        .iter()
        .map(|&v| {
            u64::try_from(v).map_err(|_| {
                SaveError::InvalidArgument(format!("{field} entries must be non-negative; got {v}"))
            })
        })
        .collect()
}

fn selection(sel: &NativeAxisSelection) -> std::result::Result<AxisSelection, SaveError> {
    Ok(match sel.kind.as_str() {
        "all" => AxisSelection::All,
        "index" => AxisSelection::Index(sel.index.unwrap_or(0)),
        "indices" => AxisSelection::Indices(sel.indices.clone().unwrap_or_default()),
        "slice" => AxisSelection::Slice {
            start: sel.start,
            stop: sel.stop,
            step: sel.step,
        },
        other => {
            return Err(SaveError::InvalidArgument(format!(
                "indices: unknown selection kind '{other}'"
            )))
        }
    })
}

fn request(o: &NativeSaveOptions) -> std::result::Result<SaveRequest, SaveError> {
    let compressor = match o.compressor_mode.as_str() {
        "default" => Compressor::Default,
        "none" => Compressor::None,
        _ => Compressor::Config(o.compressor.clone().unwrap_or(Value::Null)),
    };
    Ok(SaveRequest {
        location: o.location.clone(),
        store: StoreOptions {
            storage_options: o
                .storage_options
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            concurrency: o.concurrency.map(|c| c as usize),
        },
        dataset: o.dataset.clone(),
        approach: Approach::parse(&o.approach)?,
        axis: o.axis.unwrap_or(0) as usize,
        selection: o
            .selection
            .as_ref()
            .map(|s| s.iter().map(selection).collect())
            .transpose()?,
        dtype: o
            .target_dtype
            .as_deref()
            .map(|d| DType::parse(d, "dtype"))
            .transpose()?,
        create: CreateOptions {
            chunks: o.chunks.as_deref().map(|c| dims(c, "chunks")).transpose()?,
            shards: o.shards.as_deref().map(|c| dims(c, "shards")).transpose()?,
            compressor,
            filters: o.filters.clone().unwrap_or_default(),
            fill_value: o.fill_value.clone(),
            zarr_format: o.zarr_format.unwrap_or(3) as u8,
            dimension_names: o.dimension_names.clone(),
            attributes: o.attributes.clone().unwrap_or_default(),
        },
        threads: o.threads.map(|t| t as usize),
        inline_small_appends: true,
    })
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
    options: &NativeSaveOptions,
    control: Arc<Control>,
    data: Option<&[u8]>,
    strings: Option<Vec<String>>,
    on_js_thread: bool,
) -> std::result::Result<SaveOutcome, SaveError> {
    let mut req = request(options)?;
    // The JS thread's malloc heap is V8's too: keep c-blosc's buffers off it.
    req.inline_small_appends = !on_js_thread;
    let dtype = DType::parse(&options.dtype, "dtype")?;
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
    let nd = NdData::new(elements, dims(&options.shape, "shape")?)?;
    save_with_control(&req, nd, control)
}

fn result(o: SaveOutcome) -> NativeSaveResult {
    NativeSaveResult {
        shape: o.shape.iter().map(|&v| v as i64).collect(),
        dtype: o.dtype.name().to_string(),
        region: o
            .region
            .iter()
            .map(|&(a, b)| vec![a as i64, b as i64])
            .collect(),
        created: o.created,
    }
}

/// The work of one `save`, run on the libuv pool.
pub struct SaveTask {
    options: NativeSaveOptions,
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
        run(
            &self.options,
            self.control.clone(),
            data,
            self.strings.take(),
            false,
        )
        .map(result)
        .map_err(to_napi)
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
        let _ = env.add_env_cleanup_hook((), |()| finish_removals());
    }
}

/// Wait until the files displaced by earlier saves are removed: afterwards the
/// datasets hold only their own files. Node does this at exit; tests call it before
/// comparing directory trees.
#[napi]
pub fn settle_files() {
    finish_removals();
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
        options,
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
    run(
        &options,
        control_of(control),
        data.as_deref(),
        strings,
        true,
    )
    .map(result)
    .map_err(to_napi)
}
