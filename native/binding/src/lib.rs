//! The napi-rs shell over `zarr-saver-core`: the entry points and nothing else.
//! Each heavy one (`save`, `saveGroup`, `reserve`) runs on the libuv pool and has a
//! blocking `*Sync` twin; both call one plain function over the core. All of them
//! take the same [`NativeDestination`]; a single save takes it inside its
//! [`PreparedSave`], converted once for many saves. Besides, the core's rules the
//! facade needs before a save: dataset names, masking credentials, the object-store
//! schemes, the dtype and error-code tables. Types live in `types`, conversions in `convert`.
//! Errors that reach JS carry their stable code as `CODE[ERRNO]: message`. Every
//! entry point runs its work through [`guarded`], so a panic of the core is an
//! `ERR_ZARR_INTERNAL` error, never an abort of the host process.

#![deny(clippy::all)]
#![deny(rustdoc::broken_intra_doc_links)]

mod convert;
mod types;

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName, Uint8Array};
use napi::{Env, Error, Result, Status, Task};
use napi_derive::napi;
use zarr_saver_core::{
    catch_panics, dtype, error, finish_removals, store, Caller, Control, DType, SaveError,
    SaveRequest,
};

pub use types::*;

// glibc's malloc keeps raising its mmap threshold as chunk buffers (~1 MiB) are freed,
// then serves them from the main thread's heap, which then grows without bound under
// saveSync (~1 MB per small append); mimalloc reuses them and returns memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn to_napi(err: SaveError) -> Error {
    Error::new(Status::GenericFailure, err.to_wire())
}

/// The one door from an entry point into the core: its work, with a panic caught
/// (on this thread or on a rayon worker) and reported as `ERR_ZARR_INTERNAL`. An
/// uncaught panic would unwind into Node-API's C frames, which aborts the process.
fn guarded<T>(work: impl FnOnce() -> std::result::Result<T, SaveError>) -> Result<T> {
    catch_panics(work).map_err(to_napi)
}

/// Refuse a dataset name that could escape `filePath` or alias another node; the
/// error says why. The core's rule, checked by the facade when a saver is built.
#[napi]
pub fn check_dataset_name(name: String) -> Result<()> {
    guarded(|| zarr_saver_core::validate_dataset_name(&name))
}

/// `location` fit for a message or a log: credentials in a URL are masked.
#[napi]
pub fn redact(location: String) -> Result<String> {
    guarded(|| Ok(store::redact(&location)))
}

/// Every URL scheme that names an object store the core writes to (`s3`, `gs`, ...).
#[napi]
pub fn object_store_schemes() -> Result<Vec<&'static str>> {
    guarded(|| Ok(zarr_saver_core::object_store_schemes()))
}

/// Refuse an object-store URL the core cannot write to (an unknown scheme, no
/// bucket), with the error a save there would give.
#[napi]
pub fn check_object_store_url(url: String) -> Result<()> {
    guarded(|| zarr_saver_core::store::cloud::CloudUrl::parse(&url).map(drop))
}

/// Every dtype the core writes, by name.
#[napi]
pub fn data_types() -> Result<Vec<DataType>> {
    guarded(|| Ok(dtype::ALL.iter().map(|&d| d.into()).collect()))
}

/// Every error code the core reports.
#[napi]
pub fn error_codes() -> Result<Vec<&'static str>> {
    guarded(|| Ok(error::ALL_CODES.to_vec()))
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

/// Work for the libuv pool: one call of a plain function over the core.
pub struct Work<T> {
    job: Option<Box<dyn FnOnce() -> std::result::Result<T, SaveError> + Send>>,
}

impl<T> Work<T> {
    fn new(job: impl FnOnce() -> std::result::Result<T, SaveError> + Send + 'static) -> Self {
        Self {
            job: Some(Box::new(job)),
        }
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Work<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> Result<Self::Output> {
        let job = self
            .job
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "a task runs once"))?;
        guarded(job)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// A single save's request converted once. The facade keeps one for each distinct
/// request it sends (the same dataset, approach and options, save after save) and
/// passes only the data with each save: converting the request from JS objects,
/// codecs and attributes included, cost a small append about a tenth of its time.
#[napi]
pub struct PreparedSave {
    request: Arc<SaveRequest>,
    /// The dtype of the data every save through it brings.
    dtype: DType,
}

#[napi]
impl PreparedSave {
    /// Convert and check `options` for saves to `destination`; the error names the
    /// field at fault.
    #[napi(constructor)]
    pub fn new(destination: NativeDestination, options: NativeSaveOptions) -> Result<Self> {
        guarded(|| {
            let (request, dtype) = convert::save_request(destination, options)?;
            Ok(Self {
                request: Arc::new(request),
                dtype,
            })
        })
    }
}

/// Data up to this size is saved on the JS thread itself when the save is small
/// enough to run inline (the facade runs small local appends there, see inline.ts).
const JS_THREAD_INLINE_BYTES: usize = 64 << 10;

/// One save of `data` (of `shape`) as `request` says, called on `caller`.
fn run_save(
    request: &SaveRequest,
    dtype: DType,
    shape: &[i64],
    data: Option<&[u8]>,
    strings: Option<Vec<String>>,
    control: Arc<Control>,
    caller: Caller,
) -> std::result::Result<NativeSaveResult, SaveError> {
    let data = convert::nd_data(dtype, convert::dims(shape, "shape")?, data, strings)?;
    zarr_saver_core::save_with_control(request, data, control, caller).map(convert::save_result)
}

/// Save one array on a worker thread; resolves with what was written. The caller
/// keeps `data` alive and untouched until the Promise settles.
#[napi(ts_return_type = "Promise<NativeSaveResult>")]
pub fn save(
    env: Env,
    prepared: &PreparedSave,
    shape: Vec<i64>,
    data: Option<Uint8Array>,
    strings: Option<Vec<String>>,
    control: Option<&SaveControl>,
) -> AsyncTask<Work<NativeSaveResult>> {
    finish_removals_at_exit(&env);
    let control = control_of(control);
    let (request, dtype) = (prepared.request.clone(), prepared.dtype);
    AsyncTask::new(Work::new(move || {
        run_save(
            &request,
            dtype,
            &shape,
            data.as_deref(),
            strings,
            control,
            Caller::OwnThread,
        )
    }))
}

/// [`save`] on the calling thread, the JS thread, whose malloc heap is V8's too: a
/// small append (at most [`JS_THREAD_INLINE_BYTES`] of data) runs on it, as the
/// hand-over would cost as much, but encodes on the pool when its codecs allocate
/// in C; a larger save runs on the pool while this thread waits.
#[napi]
pub fn save_sync(
    env: Env,
    prepared: &PreparedSave,
    shape: Vec<i64>,
    data: Option<Uint8Array>,
    strings: Option<Vec<String>>,
    control: Option<&SaveControl>,
) -> Result<NativeSaveResult> {
    finish_removals_at_exit(&env);
    let control = control_of(control);
    let small = data
        .as_deref()
        .is_some_and(|d| d.len() <= JS_THREAD_INLINE_BYTES);
    let caller = if small {
        Caller::SharedHeap
    } else {
        Caller::PoolOnly
    };
    guarded(|| {
        run_save(
            &prepared.request,
            prepared.dtype,
            &shape,
            data.as_deref(),
            strings,
            control,
            caller,
        )
    })
}

fn run_group(
    destination: NativeDestination,
    options: NativeGroupOptions,
    mut arrays: Vec<NativeGroupArray>,
    control: Arc<Control>,
) -> std::result::Result<Vec<NativeGroupResult>, SaveError> {
    let (request, arrays) = convert::group_request(destination, options, &mut arrays)?;
    Ok(zarr_saver_core::save_group(&request, arrays, control)?
        .into_iter()
        .map(|(name, o)| NativeGroupResult {
            name,
            result: convert::save_result(o),
        })
        .collect())
}

/// Save several arrays of a group in one commit, on a worker thread. The caller
/// keeps every array's data untouched until the Promise settles.
#[napi(ts_return_type = "Promise<Array<NativeGroupResult>>")]
pub fn save_group(
    env: Env,
    destination: NativeDestination,
    options: NativeGroupOptions,
    arrays: Vec<NativeGroupArray>,
    control: Option<&SaveControl>,
) -> AsyncTask<Work<Vec<NativeGroupResult>>> {
    finish_removals_at_exit(&env);
    let control = control_of(control);
    AsyncTask::new(Work::new(move || {
        run_group(destination, options, arrays, control)
    }))
}

/// [`save_group`] on the calling thread.
#[napi]
pub fn save_group_sync(
    env: Env,
    destination: NativeDestination,
    options: NativeGroupOptions,
    arrays: Vec<NativeGroupArray>,
    control: Option<&SaveControl>,
) -> Result<Vec<NativeGroupResult>> {
    finish_removals_at_exit(&env);
    guarded(|| run_group(destination, options, arrays, control_of(control)))
}

fn run_reserve(
    destination: NativeDestination,
    options: NativeReserveOptions,
) -> std::result::Result<NativeReservation, SaveError> {
    let request = convert::reserve_request(destination, options)?;
    zarr_saver_core::reserve(&request).map(convert::reservation)
}

/// Grow an existing array's axis 0 by `rows` rows without writing data (they read
/// as the fill value until updated), on a worker thread.
#[napi(ts_return_type = "Promise<NativeReservation>")]
pub fn reserve(
    env: Env,
    destination: NativeDestination,
    options: NativeReserveOptions,
) -> AsyncTask<Work<NativeReservation>> {
    finish_removals_at_exit(&env);
    AsyncTask::new(Work::new(move || run_reserve(destination, options)))
}

/// [`reserve`] on the calling thread.
#[napi]
pub fn reserve_sync(
    env: Env,
    destination: NativeDestination,
    options: NativeReserveOptions,
) -> Result<NativeReservation> {
    finish_removals_at_exit(&env);
    guarded(|| run_reserve(destination, options))
}
