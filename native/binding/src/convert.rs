//! The facade's values as the core's requests, and the core's outcomes as JS values.
//! The facade checks the JavaScript types of values; the core checks what they mean.

use std::borrow::Cow;

use zarr_saver_core::{
    store, CreateOptions, DType, Destination, Elements, GroupArray, GroupRequest, NdData,
    Reservation, ReserveRequest, SaveError, SaveOutcome, SaveRequest, StoreOptions,
};

use crate::types::{
    NativeArrayOptions, NativeDestination, NativeGroupArray, NativeGroupOptions, NativeReservation,
    NativeReserveOptions, NativeSaveOptions, NativeSaveResult,
};

type Result<T> = std::result::Result<T, SaveError>;

/// JS integers as the core's sizes: a negative one is the caller's error.
pub fn dims(values: &[i64], field: &str) -> Result<Vec<u64>> {
    values
        .iter()
        .map(|&v| {
            u64::try_from(v).map_err(|_| {
                SaveError::InvalidArgument(format!("{field} entries must be positive; got {v}"))
            })
        })
        .collect()
}

pub fn destination(d: NativeDestination) -> Result<Destination> {
    let max_chunk_bytes = match d.max_chunk_bytes {
        None => zarr_saver_core::bounds::DEFAULT_MAX_CHUNK_BYTES,
        Some(n) => u64::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
            SaveError::InvalidArgument(format!("maxChunkBytes must be positive; got {n}"))
        })?,
    };
    Ok(Destination {
        location: d.location,
        store: StoreOptions {
            storage_options: d.storage_options.unwrap_or_default().into_iter().collect(),
            concurrency: d.concurrency.map(|c| c as usize),
            durable: d.durable,
            icechunk: d.icechunk.map(|i| store::IcechunkOptions {
                branch: i.branch,
                message: i.message,
            }),
        },
        threads: d.threads.map(|t| t as usize),
        max_chunk_bytes,
    })
}

/// One array's creation options in the core's terms (`zarr_format`: the save's).
fn create_options(a: &NativeArrayOptions, zarr_format: Option<u32>) -> Result<CreateOptions> {
    Ok(CreateOptions {
        chunks: a.chunks.as_deref().map(|c| dims(c, "chunks")).transpose()?,
        shards: a.shards.as_deref().map(|c| dims(c, "shards")).transpose()?,
        compressor: a.compressor.clone().into(),
        filters: a.filters.clone().unwrap_or_default(),
        fill_value: a.fill_value.clone(),
        zarr_format,
        dimension_names: a.dimension_names.clone(),
        attributes: a.attributes.clone().unwrap_or_default(),
        consolidated: a.consolidated,
    })
}

/// A single save's request, with the dtype of the data its saves come with.
pub fn save_request(dest: NativeDestination, o: NativeSaveOptions) -> Result<(SaveRequest, DType)> {
    let req = SaveRequest {
        destination: destination(dest)?,
        create: create_options(&o.array, o.zarr_format)?,
        dataset: o.dataset,
        approach: o.approach.into(),
        axis: o.axis.unwrap_or(0) as usize,
        selection: o.selection.map(|s| s.into_iter().map(Into::into).collect()),
        dtype: o.array.target_dtype.map(Into::into),
        exclusive_chunks: o.exclusive_chunks.unwrap_or(false),
    };
    Ok((req, o.array.dtype.into()))
}

/// A group save's request, and each array with its data.
pub fn group_request(
    dest: NativeDestination,
    o: NativeGroupOptions,
    arrays: &mut [NativeGroupArray],
) -> Result<(GroupRequest, Vec<GroupArray<'_>>)> {
    let request = GroupRequest {
        destination: destination(dest)?,
        group: o.group,
        approach: o.approach.into(),
        axis: o.axis.unwrap_or(0) as usize,
        selection: o.selection.map(|s| s.into_iter().map(Into::into).collect()),
        zarr_format: o.zarr_format,
    };
    let mut out = Vec::with_capacity(arrays.len());
    for a in arrays.iter_mut() {
        let strings = a.strings.take();
        let shape = dims(&a.shape, "shape")?;
        out.push(GroupArray {
            name: a.name.clone(),
            dtype: a.options.target_dtype.map(Into::into),
            create: create_options(&a.options, o.zarr_format)?,
            data: nd_data(a.options.dtype.into(), shape, a.data.as_deref(), strings)?,
        });
    }
    Ok((request, out))
}

pub fn reserve_request(dest: NativeDestination, o: NativeReserveOptions) -> Result<ReserveRequest> {
    let rows = u64::try_from(o.rows).map_err(|_| {
        SaveError::InvalidArgument(format!("rows must not be negative; got {}", o.rows))
    })?;
    let mut destination = destination(dest)?;
    // Rows are reserved in plain stores only: a queue run into an Icechunk
    // repository returns its results through the queue.
    destination.store.icechunk = None;
    Ok(ReserveRequest {
        destination,
        dataset: o.dataset,
        rows,
        stored: o.stored.unwrap_or(false),
    })
}

/// The elements the facade packed, of `shape`: one byte buffer, or a string list.
pub fn nd_data(
    dtype: DType,
    shape: Vec<u64>,
    data: Option<&[u8]>,
    strings: Option<Vec<String>>,
) -> Result<NdData<'_>> {
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

fn ints(v: &[u64]) -> Vec<i64> {
    v.iter().map(|&n| n as i64).collect()
}

pub fn save_result(o: SaveOutcome) -> NativeSaveResult {
    NativeSaveResult {
        shape: ints(&o.shape),
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

pub fn reservation(r: Reservation) -> NativeReservation {
    NativeReservation {
        start: r.start as i64,
        shape: ints(&r.shape),
        dtype: r.dtype.into(),
        chunk_shape: ints(&r.chunk_shape),
        stored_chunk_rows: r.stored_chunk_rows.as_deref().map(ints),
    }
}
