//! A single save (a group of one for the executor) and a reservation (a plan with
//! no chunks): the checks that need no store, then `commit::run`.

use std::sync::{Arc, Mutex};

use crate::commit::{self, Job, Target};
use crate::control::Control;
use crate::data::NdData;
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Existing};
use crate::metadata;
use crate::plan::{Approach, ArrayInput, Change, Rules};
use crate::request::{
    check_icechunk, validate_dataset_name, Caller, Reservation, ReserveRequest, SaveOutcome,
    SaveRequest,
};
use crate::store::Container;

/// Save `data` as the request says.
pub fn save(req: &SaveRequest, data: NdData<'_>) -> Result<SaveOutcome> {
    save_with_control(req, data, Arc::new(Control::default()), Caller::OwnThread)
}

/// [`save`] with a [`Control`] the caller can read progress from and cancel through,
/// called on the thread `caller` says. Saves to one dataset are serialised:
/// in-process in call order, across processes by the store's writer lock.
pub fn save_with_control(
    req: &SaveRequest,
    data: NdData<'_>,
    control: Arc<Control>,
    caller: Caller,
) -> Result<SaveOutcome> {
    validate(req, &data)?;
    let input = ArrayInput {
        node: req.dataset.clone(),
        label: format!("dataset '{}'", req.dataset),
        data: Some(data),
        dtype: req.dtype,
        create: req.create.clone(),
    };
    let rules = Rules::save(req.approach, req.axis, req.selection.as_deref());
    let mut job = Job::new(
        &req.destination,
        Target::Dataset(&req.dataset),
        rules,
        vec![input],
    );
    job.exclusive_chunks = req.exclusive_chunks;
    job.caller = caller;
    let outcome = commit::run(&job, &control, &|_, _| Ok(()))?.pop();
    outcome.ok_or_else(|| SaveError::Corrupt("a save of one array committed none".into()))
}

/// Everything about a request that needs no store: checked before the first
/// file-system or network call.
fn validate(req: &SaveRequest, data: &NdData<'_>) -> Result<()> {
    validate_dataset_name(&req.dataset)?;
    if req.destination.store.icechunk.is_some() {
        check_icechunk(req.create.zarr_format, req.create.consolidated)?;
    }
    if req.approach == Approach::Overwrite {
        // Overwrite always creates: its whole array can be checked now (in the
        // format asked for, or v3 until the hierarchy's is known).
        let dtype = req.dtype.unwrap_or(data.dtype());
        let max = req.destination.max_chunk_bytes;
        metadata::new_array(&req.dataset, &data.shape, dtype, &req.create, max)?;
    }
    Ok(())
}

/// What a reservation found under the lock: the first reserved row, the chunk
/// shape, and (when asked) the chunk rows already stored.
type Found = (u64, Vec<u64>, Option<Vec<u64>>);

/// Grow the array's axis 0 by `rows` rows that hold the fill value until written,
/// with the commit protocol of an append (the writer lock, a conditional metadata
/// write, every consolidated copy rewritten in the same commit) but no chunk:
/// writers fill the rows later with updates, each its own whole chunks, in any
/// order. Reserving 0 rows describes the array and commits nothing.
pub fn reserve(req: &ReserveRequest) -> Result<Reservation> {
    validate_dataset_name(&req.dataset)?;
    let input = ArrayInput {
        node: req.dataset.clone(),
        label: format!("dataset '{}'", req.dataset),
        data: None,
        dtype: None,
        create: Default::default(),
    };
    let rules = Rules::reserve(req.rows);
    let job = Job::new(
        &req.destination,
        Target::Dataset(&req.dataset),
        rules,
        vec![input],
    );
    // What the array was, seen under the lock before the reservation.
    let found: Mutex<Option<Found>> = Mutex::new(None);
    let outcome = commit::run(&job, &Arc::new(Control::default()), &|container, plans| {
        if let Some(Change::Reserve { existing, .. }) = plans.first().map(|p| &p.change) {
            let stored = if req.stored {
                Some(stored_chunk_rows(container, &req.dataset, existing)?)
            } else {
                None
            };
            let start = existing.shape[0];
            *found.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((start, existing.chunk_shape.clone(), stored));
        }
        Ok(())
    })?
    .pop()
    .ok_or_else(|| SaveError::Corrupt("a reservation of one array reserved none".into()))?;
    let (start, chunk_shape, stored_chunk_rows) = found
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .ok_or_else(|| SaveError::Corrupt("a reservation found no array".into()))?;
    Ok(Reservation {
        start,
        shape: outcome.shape,
        dtype: outcome.dtype,
        chunk_shape,
        stored_chunk_rows,
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
