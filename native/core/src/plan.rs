//! The rules of the three approaches (append / overwrite / update) and of a
//! reservation, in one place: what each may do to what it finds, decided before
//! anything is written. [`plan`] turns a save of one or several arrays into
//! [`ArrayPlan`]s; `commit` carries them out. A single save is a group of one.

use serde_json::{json, Value};

use crate::data::NdData;
use crate::dtype::DType;
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Existing, Node};
use crate::metadata::{self, CreateOptions, NewArrayMetadata};
use crate::selection::{self, AxisSelection, Resolved};
use crate::store::{Container, Version};

/// How a save treats what is at the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approach {
    Append,
    Overwrite,
    Update,
}

/// One array of a save, as asked for.
#[derive(Debug, Clone)]
pub struct ArrayInput<'a> {
    /// Its path in the container.
    pub node: String,
    /// How messages name it (`dataset 'x'`, `array 'x'`).
    pub label: String,
    /// `None`: a reservation, which writes no data.
    pub data: Option<NdData<'a>>,
    /// Stored dtype at creation; must equal the stored dtype afterwards.
    pub dtype: Option<DType>,
    pub create: CreateOptions,
}

/// What a save does to the arrays it names, besides their data.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub approach: Approach,
    /// The axis appends grow.
    pub axis: usize,
    /// `update`: the positions to write, the same in every array.
    pub selection: Option<&'a [AxisSelection]>,
    /// Rows a reservation adds on axis 0 (no data).
    pub reserve: Option<u64>,
    /// A group save: its arrays give no fill value in Zarr v2 unless asked (xarray
    /// reads one as the missing-value marker).
    pub group: bool,
    /// Largest decoded chunk (shard, when sharded) the save may hold in memory.
    pub max_chunk_bytes: u64,
}

impl<'a> Rules<'a> {
    /// The rules of a save with `approach` (`axis` for appends, `selection` for
    /// updates).
    pub fn save(approach: Approach, axis: usize, selection: Option<&'a [AxisSelection]>) -> Self {
        Self {
            approach,
            axis,
            selection,
            reserve: None,
            group: false,
            max_chunk_bytes: crate::bounds::DEFAULT_MAX_CHUNK_BYTES,
        }
    }

    /// The rules of a reservation of `rows` rows on axis 0.
    pub fn reserve(rows: u64) -> Self {
        Self {
            reserve: Some(rows),
            ..Self::save(Approach::Append, 0, None)
        }
    }
}

/// What a plan changes in an array.
pub enum Change {
    /// A new array in Zarr `format`, written whole, in place of whatever is there;
    /// `consolidated`: the root gets a consolidated copy if it has none.
    Create {
        new: NewArrayMetadata,
        format: u32,
        consolidated: bool,
    },
    /// Rows after the last one along the axis: new metadata `meta`, data at `start`.
    Append {
        existing: Existing,
        meta: Value,
        start: Vec<u64>,
    },
    /// Positions of an existing array; its metadata stays.
    Update {
        existing: Existing,
        resolved: Resolved,
    },
    /// Rows added on axis 0 that hold the fill value until written: metadata only.
    Reserve { existing: Existing, meta: Value },
}

/// One array's part of a save, checked whole.
pub struct ArrayPlan<'a> {
    pub node: String,
    pub label: String,
    /// The data in the shape it is written in, cast to the stored dtype.
    pub data: Option<NdData<'a>>,
    pub change: Change,
    /// The array's shape after the save.
    pub shape: Vec<u64>,
    pub dtype: DType,
    /// Per axis, `[start, stop)` of what is written.
    pub region: Vec<(u64, u64)>,
}

impl ArrayPlan<'_> {
    /// Bytes one of its chunks (shards, when sharded) holds decoded while written.
    pub fn chunk_bytes(&self) -> u64 {
        let meta = match &self.change {
            Change::Create { new, .. } => &new.main,
            Change::Append { meta, .. } | Change::Reserve { meta, .. } => meta,
            Change::Update { existing, .. } => &existing.meta,
        };
        crate::bounds::outer_chunk_bytes(meta, self.dtype).unwrap_or(u64::MAX)
    }

    /// Whether the save asked for a consolidated copy at the root (at creation).
    pub fn consolidated_asked(&self) -> bool {
        matches!(
            self.change,
            Change::Create {
                consolidated: true,
                ..
            }
        )
    }

    /// The metadata document this plan commits: key, JSON and version read.
    pub fn committed_metadata(&self) -> Option<(&str, &Value, &Version)> {
        match &self.change {
            Change::Append { existing, meta, .. } | Change::Reserve { existing, meta } => {
                Some((&existing.key, meta, &existing.version))
            }
            Change::Create { .. } | Change::Update { .. } => None,
        }
    }
}

/// Where a save's arrays are, for messages: `dataset 'x'` in `filePath` or a group.
pub fn not_found(what: &str, missing: &[&str], rules: &Rules<'_>) -> SaveError {
    let need = if rules.reserve.is_some() {
        "rows are reserved in an existing array"
    } else {
        "update needs existing arrays"
    };
    SaveError::NotFound(format!(
        "{} {what}; {need}",
        match missing {
            [one] => format!("{one} does not exist in"),
            many => format!("{} do not exist in", many.join(", ")),
        }
    ))
}

/// Plan every array of one save against the nodes found at their paths (`nodes`,
/// in the same order), all or nothing. `what` names the container or group in
/// messages. Every array is checked (cast, metadata, zarrs' reading of it) before
/// anything is written.
pub fn plan<'a>(
    container: &Container,
    rules: &Rules<'_>,
    inputs: Vec<ArrayInput<'a>>,
    nodes: Vec<Node>,
    what: &str,
) -> Result<Vec<ArrayPlan<'a>>> {
    for (input, node) in inputs.iter().zip(&nodes) {
        if matches!(node, Node::Group) {
            return Err(SaveError::InvalidArgument(format!(
                "{}: '{}' is a group, not an array",
                input.label, input.node
            )));
        }
    }
    let missing: Vec<&str> = inputs
        .iter()
        .zip(&nodes)
        .filter(|(_, n)| matches!(n, Node::Missing))
        .map(|(a, _)| a.label.as_str())
        .collect();
    let must_exist = rules.approach == Approach::Update || rules.reserve.is_some();
    let create = if rules.approach == Approach::Overwrite {
        true
    } else if must_exist {
        if !missing.is_empty() {
            return Err(not_found(what, &missing, rules));
        }
        false
    } else if missing.len() == inputs.len() {
        true
    } else if missing.is_empty() {
        false
    } else {
        return Err(SaveError::InvalidArgument(format!(
            "{} do not exist in {what} and the others do: an append grows every array by \
             the same rows, so create them together, or add one with its own save",
            missing.join(", ")
        )));
    };
    let mut plans = Vec::with_capacity(inputs.len());
    let mut rows: Option<(u64, String)> = None;
    for (input, node) in inputs.into_iter().zip(nodes) {
        let plan = match (create, node) {
            (true, _) => plan_create(container, rules, input)?,
            (false, Node::Array(existing)) => match (rules.approach, rules.reserve) {
                (_, Some(n)) => plan_reserve(container, input, existing, n)?,
                (Approach::Update, None) => {
                    plan_update(container, rules.selection, input, existing)?
                }
                _ => plan_append(container, rules.axis, input, existing)?,
            },
            (false, _) => unreachable!("every array exists"),
        };
        if let Change::Append { start, .. } = &plan.change {
            // Every array of a save grows by the same rows.
            let axis = rules.axis;
            let added = plan.shape[axis] - start[axis];
            match &rows {
                Some((n, first)) if *n != added => {
                    return Err(SaveError::ShapeMismatch(format!(
                        "{} adds {added} rows along axis {axis} and {first} adds {n}: every \
                         array of a group append grows by the same rows",
                        plan.label
                    )))
                }
                None => rows = Some((added, plan.label.clone())),
                _ => {}
            }
        }
        plans.push(plan);
    }
    Ok(plans)
}

fn take_data<'a>(data: &mut Option<NdData<'a>>, label: &str) -> Result<NdData<'a>> {
    data.take()
        .ok_or_else(|| SaveError::InvalidData(format!("{label}: no data to save")))
}

fn plan_create<'a>(
    container: &Container,
    rules: &Rules<'_>,
    mut input: ArrayInput<'a>,
) -> Result<ArrayPlan<'a>> {
    let data = take_data(&mut input.data, &input.label)?;
    let dtype = input.dtype.unwrap_or(data.dtype());
    let data = data.cast(dtype)?;
    // Not asked for: the format of the hierarchy the array joins.
    let format = match input.create.zarr_format {
        Some(f) => f,
        None => hierarchy_format(container, &input.node)?.unwrap_or(3),
    };
    input.create.zarr_format = Some(format);
    let mut new = metadata::new_array(
        &input.node,
        &data.shape,
        dtype,
        &input.create,
        rules.max_chunk_bytes,
    )?;
    if rules.group && format == 2 && input.create.fill_value.is_none() && dtype != DType::String {
        // xarray reads a v2 fill value as the missing-value marker: without one asked
        // for, none (as xarray writes), so no stored value reads as missing.
        new.main["fill_value"] = Value::Null;
    }
    hierarchy::open_array(container, &input.node, &new.main)?;
    Ok(ArrayPlan {
        region: data.shape.iter().map(|&n| (0, n)).collect(),
        shape: data.shape.clone(),
        node: input.node,
        label: input.label,
        data: Some(data),
        change: Change::Create {
            new,
            format,
            consolidated: input.create.consolidated,
        },
        dtype,
    })
}

/// The data `input` brings to an existing array. A dtype asked for must be the
/// stored one: a second cast target would make the stored type ambiguous.
fn data_for_existing<'a>(input: &mut ArrayInput<'a>, existing: &Existing) -> Result<NdData<'a>> {
    match input.dtype {
        Some(d) if d != existing.dtype => Err(SaveError::DtypeMismatch(format!(
            "dtype '{}' differs from the stored dtype '{}' of {}",
            d.name(),
            existing.dtype.name(),
            input.label
        ))),
        _ => take_data(&mut input.data, &input.label),
    }
}

fn plan_append<'a>(
    container: &Container,
    axis: usize,
    mut input: ArrayInput<'a>,
    existing: Existing,
) -> Result<ArrayPlan<'a>> {
    let data = data_for_existing(&mut input, &existing)?;
    let label = &input.label;
    let old = &existing.shape;
    if axis >= old.len() {
        return Err(SaveError::InvalidArgument(format!(
            "axis {axis} is out of range for {label} of {} dimensions",
            old.len()
        )));
    }
    let fits = data.shape.len() == old.len()
        && (0..old.len()).all(|d| d == axis || data.shape[d] == old[d]);
    if !fits {
        let mut expected: Vec<String> = old.iter().map(u64::to_string).collect();
        expected[axis] = "*".into();
        return Err(SaveError::ShapeMismatch(format!(
            "data of shape {:?} cannot be appended along axis {axis} to {label} of shape \
             {old:?}; expected [{}]",
            data.shape,
            expected.join(", ")
        )));
    }
    let data = data.cast(existing.dtype).map_err(|e| match e {
        SaveError::DtypeMismatch(m) => SaveError::DtypeMismatch(format!("{label}: {m}")),
        other => other,
    })?;
    let shape = crate::bounds::grown(old, axis, data.shape[axis], &input.node)?;
    let mut meta = existing.meta.clone();
    meta["shape"] = json!(shape);
    hierarchy::open_array(container, &input.node, &meta)?;
    let mut start = vec![0; shape.len()];
    start[axis] = old[axis];
    Ok(ArrayPlan {
        region: (0..shape.len())
            .map(|d| (start[d], start[d] + data.shape[d]))
            .collect(),
        dtype: existing.dtype,
        shape,
        node: input.node,
        label: input.label,
        data: Some(data),
        change: Change::Append {
            existing,
            meta,
            start,
        },
    })
}

fn plan_update<'a>(
    container: &Container,
    selection: Option<&[AxisSelection]>,
    mut input: ArrayInput<'a>,
    existing: Existing,
) -> Result<ArrayPlan<'a>> {
    let selection = selection.ok_or_else(|| {
        SaveError::IndicesRequired("update needs indices: the positions to overwrite".into())
    })?;
    let data = data_for_existing(&mut input, &existing)?;
    let label = &input.label;
    let resolved = selection::resolve(selection, &existing.shape)?;
    // The data has the selection's shape: numpy's, or with every axis kept.
    let (numpy_shape, full_shape) = (resolved.numpy_shape(), resolved.full_shape());
    if data.shape != numpy_shape && data.shape != full_shape {
        return Err(SaveError::ShapeMismatch(format!(
            "data of shape {:?} does not match the selection's shape {numpy_shape:?} in {label} \
             of shape {:?}",
            data.shape, existing.shape
        )));
    }
    let mut data = data.cast(existing.dtype)?;
    data.shape = full_shape;
    hierarchy::open_array(container, &input.node, &existing.meta)?;
    Ok(ArrayPlan {
        region: resolved.axes.iter().map(|p| p.bounds()).collect(),
        shape: existing.shape.clone(),
        dtype: existing.dtype,
        node: input.node,
        label: input.label,
        data: Some(data),
        change: Change::Update { existing, resolved },
    })
}

fn plan_reserve<'a>(
    container: &Container,
    input: ArrayInput<'a>,
    existing: Existing,
    rows: u64,
) -> Result<ArrayPlan<'a>> {
    let label = &input.label;
    if existing.shape.is_empty() {
        return Err(SaveError::InvalidArgument(format!(
            "{label} has no axis 0 to reserve rows on (a 0-d array)"
        )));
    }
    let start = existing.shape[0];
    let mut shape = existing.shape.clone();
    shape[0] = start.checked_add(rows).ok_or_else(|| {
        SaveError::InvalidArgument(format!("reserving {rows} rows overflows axis 0 of {label}"))
    })?;
    let mut meta = existing.meta.clone();
    meta["shape"] = json!(shape);
    hierarchy::open_array(container, &input.node, &meta)?;
    let mut region: Vec<(u64, u64)> = shape.iter().map(|&n| (0, n)).collect();
    region[0] = (start, shape[0]);
    Ok(ArrayPlan {
        region,
        dtype: existing.dtype,
        shape,
        node: input.node,
        label: input.label,
        data: None,
        change: Change::Reserve { existing, meta },
    })
}

/// The Zarr format of the hierarchy `node` joins: the format of what is at `node`,
/// else of the nearest group above it, else `None` (a new hierarchy).
pub fn hierarchy_format(container: &Container, node: &str) -> Result<Option<u32>> {
    let segments: Vec<&str> = node.split('/').collect();
    for depth in (0..=segments.len()).rev() {
        let path = segments[..depth].join("/");
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        if container.get_json(&format!("{prefix}zarr.json"))?.is_some() {
            return Ok(Some(3));
        }
        for v2 in [".zgroup", ".zarray"] {
            if container.get_json(&format!("{prefix}{v2}"))?.is_some() {
                return Ok(Some(2));
            }
        }
    }
    Ok(None)
}
