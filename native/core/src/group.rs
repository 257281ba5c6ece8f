//! Several arrays of one group in one save, all or nothing: the way to append a time
//! step to every variable of an xarray dataset and to its time coordinate at once.
//!
//! Everything is checked before anything is written. A new group is built whole
//! (its arrays, and a consolidated copy of their metadata, as xarray writes) and
//! appears in one rename. Appends stage every array's chunks, then publish every
//! array's metadata and, last, the group's consolidated copy: the commit point. A
//! writer that crashes in between leaves debris in each array; the next writer of any
//! of them brings the arrays back to what the consolidated copy says, so every array
//! has its old length or every one its new. On an object store the commit is
//! recorded before it is made, and the next writer finishes it (see `recovery`).

use std::sync::Arc;

use serde_json::{json, Value};
use zarrs::array::CodecOptions;

use crate::consolidated::{self, NodeDocs};
use crate::control::Control;
use crate::data::NdData;
use crate::dtype::DType;
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Existing, Node};
use crate::lock::with_dataset_lock;
use crate::metadata::{self, CreateOptions, NewArrayMetadata};
use crate::recovery::{finish_interrupted, restore};
use crate::saver::{
    check_dtype, check_icechunk, fit_update, retry_conflicts, tail_cache, validate_dataset_name,
    Approach, SaveOutcome, PREPARED_CHUNKS,
};
use crate::selection::AxisSelection;
use crate::store::{Container, Doc, StoreOptions, Transaction};
use crate::tail_cache::TailCache;
use crate::threads;
use crate::write;

/// Where and how a group save writes; per-array options ride with each array.
#[derive(Debug, Clone)]
pub struct GroupRequest {
    pub location: String,
    pub store: StoreOptions,
    /// Path of the group inside the container (`""`: the root).
    pub group: String,
    pub approach: Approach,
    /// The axis appends grow, shared by every array.
    pub axis: usize,
    /// `update`: the same positions in every array.
    pub selection: Option<Vec<AxisSelection>>,
    /// Zarr format of a new group and its arrays.
    pub zarr_format: u32,
    pub threads: Option<usize>,
    /// Largest decoded chunk (shard, when sharded) the save may hold in memory.
    pub max_chunk_bytes: u64,
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

fn node(group: &str, name: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{group}/{name}")
    }
}

fn validate(req: &GroupRequest, arrays: &[GroupArray<'_>]) -> Result<()> {
    if !req.group.is_empty() {
        validate_dataset_name(&req.group).map_err(|e| {
            SaveError::InvalidArgument(e.to_string().replacen("datasetName", "group", 1))
        })?;
    }
    if arrays.is_empty() {
        return Err(SaveError::InvalidData(
            "a group save needs at least one array".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for a in arrays {
        validate_dataset_name(&a.name).map_err(|e| {
            SaveError::InvalidArgument(e.to_string().replacen("datasetName", "array name", 1))
        })?;
        if a.name.contains('/') {
            return Err(SaveError::InvalidArgument(format!(
                "array name {:?} must be one path segment: the arrays of a group save sit in the group",
                a.name
            )));
        }
        if names.contains(&a.name.as_str()) {
            return Err(SaveError::InvalidArgument(format!(
                "array name {:?} is given twice",
                a.name
            )));
        }
        names.push(&a.name);
    }
    if req.zarr_format != 2 && req.zarr_format != 3 {
        return Err(SaveError::InvalidArgument(format!(
            "zarrFormat must be 2 or 3; got {}",
            req.zarr_format
        )));
    }
    if req.store.icechunk.is_some() {
        check_icechunk(req.zarr_format, false)?;
    }
    Ok(())
}

/// Dimension names for arrays that give none, so that xarray opens the group: the
/// append axis gets one name shared by every array (a name some array gives it, or
/// the name of the only one-dimensional array, its coordinate, or `dim_0`), and every
/// other axis a name of its own (`<array>_dim_<axis>`).
fn derive_dimension_names(arrays: &mut [GroupArray<'_>], axis: usize) {
    let given = arrays.iter().find_map(|a| {
        a.create
            .dimension_names
            .as_ref()
            .and_then(|n| n.get(axis).cloned().flatten())
    });
    let one_dimensional: Vec<&str> = arrays
        .iter()
        .filter(|a| a.data.shape.len() == 1)
        .map(|a| a.name.as_str())
        .collect();
    let shared = given.unwrap_or_else(|| match one_dimensional.as_slice() {
        [only] if axis == 0 => only.to_string(),
        _ => format!("dim_{axis}"),
    });
    for a in arrays.iter_mut() {
        if a.create.dimension_names.is_none() {
            let names = (0..a.data.shape.len())
                .map(|d| {
                    Some(if d == axis {
                        shared.clone()
                    } else {
                        format!("{}_dim_{d}", a.name)
                    })
                })
                .collect();
            a.create.dimension_names = Some(names);
        }
    }
}

/// Save every array of `arrays` into `req.group`, in one commit.
pub fn save_group(
    req: &GroupRequest,
    arrays: Vec<GroupArray<'_>>,
    control: Arc<Control>,
) -> Result<Vec<(String, SaveOutcome)>> {
    validate(req, &arrays)?;
    let pool = threads::pool(req.threads)?;
    let options = CodecOptions::default().with_concurrent_target(pool.current_num_threads());
    let names: Vec<String> = arrays.iter().map(|a| a.name.clone()).collect();
    let attempt = || {
        let container = Container::open(&req.location, &req.store, control.clone())?;
        let lock_key = format!("{}\u{0}{}\u{0}group", container.id, req.group);
        let arrays = arrays.clone();
        let run = || {
            let create = req.approach != Approach::Update;
            let Some(mut txn) = Transaction::begin_group(&container, &req.group, &names, create)?
            else {
                return Err(SaveError::NotFound(format!(
                    "group '{}' does not exist; update needs existing arrays",
                    req.group
                )));
            };
            // What is there, each array brought back to the last commit if a writer crashed.
            finish_interrupted(&mut txn)?;
            let mut nodes = Vec::new();
            for a in &arrays {
                let path = node(&req.group, &a.name);
                let found =
                    match hierarchy::read_node_bounded(txn.container(), &path, req.max_chunk_bytes)
                    {
                        Err(SaveError::Corrupt(_)) if req.approach == Approach::Overwrite => {
                            Node::Missing
                        }
                        other => other?,
                    };
                nodes.push(match found {
                    Node::Array(e) if txn.recovered() => Node::Array(restore(&mut txn, &path, e)?),
                    Node::Group => {
                        return Err(SaveError::InvalidArgument(format!(
                            "array name '{}': '{path}' is a group, not an array",
                            a.name
                        )))
                    }
                    other => other,
                });
            }
            let existing = nodes.iter().filter(|n| matches!(n, Node::Array(_))).count();
            match req.approach {
                Approach::Overwrite => create_all(req, &mut txn, arrays, &options, &control),
                Approach::Append if existing == 0 => {
                    create_all(req, &mut txn, arrays, &options, &control)
                }
                Approach::Append if existing == arrays.len() => {
                    append_all(req, &mut txn, arrays, nodes, &options, &control)
                }
                Approach::Update if existing == arrays.len() => {
                    update_all(req, &mut txn, arrays, nodes, &options, &control)
                }
                _ => {
                    let missing: Vec<&str> = arrays
                        .iter()
                        .zip(&nodes)
                        .filter(|(_, n)| matches!(n, Node::Missing))
                        .map(|(a, _)| a.name.as_str())
                        .collect();
                    if req.approach == Approach::Update {
                        return Err(SaveError::NotFound(format!(
                        "arrays {missing:?} do not exist in group '{}'; update needs existing arrays",
                        req.group
                    )));
                    }
                    Err(SaveError::InvalidArgument(format!(
                    "arrays {missing:?} do not exist in group '{}' and the others do: an append \
                     grows every array by the same rows, so create them together, or add one \
                     with its own save",
                    req.group
                )))
                }
            }
        };
        let mut outcomes = with_dataset_lock(&lock_key, || pool.install(run))?;
        let snapshot_id = container.snapshot_id();
        for (_, o) in &mut outcomes {
            o.snapshot_id.clone_from(&snapshot_id);
        }
        Ok(outcomes)
    };
    retry_conflicts(req.store.icechunk.is_some(), attempt)
}

/// The commit message of a group save on an Icechunk repository.
fn describe_group(req: &GroupRequest, what: &str, names: &[&str]) -> String {
    let group = if req.group.is_empty() {
        "/"
    } else {
        &req.group
    };
    format!("zarr-saver: {what} group '{group}' ({})", names.join(", "))
}

fn create_all(
    req: &GroupRequest,
    txn: &mut Transaction<'_>,
    mut arrays: Vec<GroupArray<'_>>,
    options: &CodecOptions,
    control: &Control,
) -> Result<Vec<(String, SaveOutcome)>> {
    derive_dimension_names(&mut arrays, req.axis);
    let format = req.zarr_format;
    // Every array checked (cast, metadata, zarrs' reading of it) before any write.
    let mut planned: Vec<(String, String, NdData<'_>, DType, NewArrayMetadata)> = Vec::new();
    for a in arrays {
        let path = node(&req.group, &a.name);
        let dtype = a.dtype.unwrap_or(a.data.dtype());
        let mut create = a.create;
        create.zarr_format = format;
        let data = a.data.cast(dtype)?;
        let mut new = metadata::new_array(&path, &data.shape, dtype, &create, req.max_chunk_bytes)?;
        if format == 2 && create.fill_value.is_none() && dtype != DType::String {
            // xarray reads a v2 fill value as the missing-value marker: without one
            // asked for, none (as xarray writes), so no stored value reads as missing.
            new.main["fill_value"] = Value::Null;
        }
        hierarchy::open_array(txn.container(), &path, &new.main)?;
        planned.push((a.name, path, data, dtype, new));
    }
    let group = req.group.clone();
    // The group's documents it lacks (its own among them: then it gets a consolidated
    // copy listing its arrays, as a group this save creates), and those above it.
    let groups = hierarchy::missing_groups(txn.container(), &planned[0].1, format)?;
    let prefix = if group.is_empty() {
        String::new()
    } else {
        format!("{group}/")
    };
    let new_group = groups
        .iter()
        .any(|(k, _)| *k == format!("{prefix}zarr.json") || *k == format!("{prefix}.zgroup"));
    let updates: Vec<NodeDocs> = planned
        .iter()
        .map(|(_, path, _, _, new)| NodeDocs {
            node: path.clone(),
            docs: new.documents(path, format),
            new: true,
        })
        .collect();
    let copies: Vec<String> =
        consolidated::groups_with_copies(txn.container(), &planned[0].1, format)?;
    // A group this save creates is consolidated as xarray writes it: one copy at the
    // root, listing every node (xarray reads it there, for any group below).
    let root_copy =
        new_group && !copies.iter().any(String::is_empty) && !txn.container().is_icechunk();
    let mut locked = copies.clone();
    if root_copy {
        locked.push(String::new());
    }
    txn.lock_groups(&locked)?;
    // What this commit writes besides: listed in a new root copy as if already there.
    let pending: Vec<(String, Value)> = groups
        .iter()
        .cloned()
        .chain(
            planned
                .iter()
                .flat_map(|(_, path, _, _, new)| new.documents(path, format)),
        )
        .collect();
    let with_root_copy = |c: &Container, mut docs: Vec<(String, Value, crate::store::Version)>| {
        if root_copy {
            let copy = consolidated::new_root_copy(c, format, &pending)?;
            // The copy is the root's document, whole: it replaces a plain one in this commit.
            docs.retain(|(k, _, _)| *k != copy.0);
            docs.push(copy);
        }
        Ok::<_, SaveError>(docs)
    };
    if txn.missing() {
        // A new group directory: the group, its consolidated copy and every array
        // appear at once.
        txn.create_at(&group, &groups, |staging, at| {
            for (_, path, data, _, new) in &planned {
                let rel = path
                    .strip_prefix(&group)
                    .unwrap_or(path)
                    .trim_start_matches('/');
                let inside = if at.is_empty() {
                    rel.to_string()
                } else {
                    format!("{at}/{rel}")
                };
                let array = hierarchy::open_array(staging, &inside, &new.main)?;
                write::write_region(&array, &vec![0; data.shape.len()], data, options, control)?;
                for (key, doc) in new.documents(&inside, format) {
                    staging.put_json(&key, &doc)?;
                }
            }
            control.check()
        })?;
        txn.commit(None, |c| {
            with_root_copy(c, consolidated::docs_many(c, &copies, format, &updates)?)
        })?;
    } else {
        // An existing group: each array replaced atomically, then the group's
        // documents and the consolidated copies above the arrays.
        let what = match req.approach {
            Approach::Overwrite => "overwrite",
            _ => "create",
        };
        let names: Vec<&str> = planned.iter().map(|p| p.0.as_str()).collect();
        txn.container()
            .describe(|| describe_group(req, what, &names));
        for (key, doc) in &groups {
            txn.container().declare(key, doc)?;
        }
        for (_, path, data, _, new) in &planned {
            txn.mark_at(path, "overwrite")?;
            fill_array(txn, path, data, new, format, options, control)?;
        }
        let groups = groups.clone();
        txn.commit(None, |c| {
            let mut docs: Vec<_> = groups
                .iter()
                .map(|(k, d)| (k.clone(), d.clone(), crate::store::Version::Local))
                .collect();
            docs.extend(consolidated::docs_many(c, &copies, format, &updates)?);
            with_root_copy(c, docs)
        })?;
    }
    Ok(planned
        .into_iter()
        .map(|(name, _, data, dtype, _)| {
            let region = data.shape.iter().map(|&n| (0, n)).collect();
            (
                name,
                SaveOutcome {
                    shape: data.shape,
                    dtype,
                    region,
                    created: true,
                    snapshot_id: None,
                },
            )
        })
        .collect())
}

/// One array of an existing group, written whole and swapped in.
fn fill_array(
    txn: &mut Transaction<'_>,
    path: &str,
    data: &NdData<'_>,
    new: &NewArrayMetadata,
    format: u32,
    options: &CodecOptions,
    control: &Control,
) -> Result<()> {
    txn.create_at(path, &[], |staging, at| {
        let node = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}/{name}")
            }
        };
        let array = hierarchy::open_array(staging, at, &new.main)?;
        if format == 3 {
            staging.declare(&node("zarr.json"), &new.main)?;
        }
        write::write_region(&array, &vec![0; data.shape.len()], data, options, control)?;
        control.check()?;
        for (key, doc) in new.documents("", format) {
            staging.put_json(&node(key.trim_start_matches('/')), &doc)?;
        }
        Ok(())
    })
}

fn append_all(
    req: &GroupRequest,
    txn: &mut Transaction<'_>,
    arrays: Vec<GroupArray<'_>>,
    nodes: Vec<Node>,
    options: &CodecOptions,
    control: &Control,
) -> Result<Vec<(String, SaveOutcome)>> {
    let axis = req.axis;
    // Every array checked and cast before any write; every one grows by the same rows.
    let mut planned: Vec<(String, String, Existing, NdData<'_>, Value)> = Vec::new();
    let mut rows: Option<(u64, String)> = None;
    for (a, n) in arrays.into_iter().zip(nodes) {
        let Node::Array(existing) = n else {
            unreachable!("every array exists")
        };
        let path = node(&req.group, &a.name);
        check_dtype(a.dtype, &existing, &format!("array '{}'", a.name))?;
        let old = &existing.shape;
        let fits = axis < old.len()
            && a.data.shape.len() == old.len()
            && (0..old.len()).all(|d| d == axis || a.data.shape[d] == old[d]);
        if !fits {
            return Err(SaveError::ShapeMismatch(format!(
                "array '{}': data of shape {:?} cannot be appended along axis {axis} to shape {old:?}",
                a.name, a.data.shape
            )));
        }
        let added = a.data.shape[axis];
        match &rows {
            Some((n, first)) if *n != added => {
                return Err(SaveError::ShapeMismatch(format!(
                    "array '{}' adds {added} rows along axis {axis} and array '{first}' adds {n}: \
                     every array of a group append grows by the same rows",
                    a.name
                )))
            }
            None => rows = Some((added, a.name.clone())),
            _ => {}
        }
        let data = a.data.cast(existing.dtype).map_err(|e| match e {
            SaveError::DtypeMismatch(m) => {
                SaveError::DtypeMismatch(format!("array '{}': {m}", a.name))
            }
            other => other,
        })?;
        let mut meta = existing.meta.clone();
        let shape = crate::bounds::grown(old, axis, added, &path)?;
        meta["shape"] = json!(shape);
        hierarchy::open_array(txn.container(), &path, &meta)?;
        planned.push((a.name, path, existing, data, meta));
    }
    let format = planned[0].2.zarr_format();
    let names: Vec<&str> = planned.iter().map(|p| p.0.as_str()).collect();
    let rows = rows.map_or(0, |(n, _)| n);
    txn.container()
        .describe(|| describe_group(req, &format!("append {rows} rows to"), &names));
    // Each array's metadata temp file first (its sign, should the save crash), then
    // those of the consolidated copies and of the chunks each append touches, made
    // while others encode.
    let copies = consolidated::groups_with_copies(txn.container(), &planned[0].1, format)?;
    let mut arrays = Vec::new();
    let mut keys = Vec::new();
    for (_, path, existing, _, meta) in &planned {
        txn.container().declare(&existing.key, meta)?;
        let array = hierarchy::open_array(txn.container(), path, meta)?;
        let mut start = vec![0; existing.shape.len()];
        start[axis] = existing.shape[axis];
        keys.push(crate::store::key(&existing.key)?);
        arrays.push((array, start));
    }
    for group in &copies {
        keys.push(crate::store::key(&consolidated::copy_key(group, format))?);
    }
    for ((array, start), (_, _, _, data, _)) in arrays.iter().zip(&planned) {
        keys.extend(
            write::chunk_keys(array, start, &data.shape, PREPARED_CHUNKS).unwrap_or_default(),
        );
    }
    txn.prepare(keys);
    let mut outcomes = Vec::new();
    let mut tails = Vec::new();
    for ((name, _, existing, data, meta), (array, start)) in planned.iter().zip(&arrays) {
        // As a single append: the decoded tail chunk of the last append is reused.
        let tail = tail_cache(txn.container(), meta, existing.dtype);
        write::write_region_cached(array, start, data, options, control, tail.as_ref())?;
        tails.extend(tail);
        let shape: Vec<u64> = meta["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let region = (0..shape.len())
            .map(|d| (start[d], start[d] + data.shape[d]))
            .collect();
        outcomes.push((
            name.clone(),
            SaveOutcome {
                shape,
                dtype: existing.dtype,
                region,
                created: false,
                snapshot_id: None,
            },
        ));
    }
    control.check()?;
    txn.lock_groups(&copies)?;
    let updates: Vec<NodeDocs> = planned
        .iter()
        .map(|(_, path, e, _, meta)| NodeDocs {
            node: path.clone(),
            docs: vec![(e.key.clone(), meta.clone())],
            new: false,
        })
        .collect();
    // Recorded first (object stores), so that a crash from here on is finished by the
    // next writer; then every array's metadata, then the consolidated copies.
    let all: Vec<Doc> = planned
        .iter()
        .map(|(_, _, e, _, meta)| (e.key.clone(), meta.clone(), e.version.clone()))
        .collect();
    let nodes: Vec<String> = planned.iter().map(|p| p.1.clone()).collect();
    txn.record(&all, &nodes, format)?;
    let first = &planned[0];
    let own = all[1..].to_vec();
    txn.commit(Some((&first.2.key, &first.4, &first.2.version)), |c| {
        let mut docs = own.clone();
        docs.extend(consolidated::docs_many(c, &copies, format, &updates)?);
        Ok(docs)
    })?;
    tails.into_iter().for_each(TailCache::commit);
    Ok(outcomes)
}

fn update_all(
    req: &GroupRequest,
    txn: &mut Transaction<'_>,
    arrays: Vec<GroupArray<'_>>,
    nodes: Vec<Node>,
    options: &CodecOptions,
    control: &Control,
) -> Result<Vec<(String, SaveOutcome)>> {
    let selection = req.selection.as_ref().ok_or_else(|| {
        SaveError::IndicesRequired("update needs indices: the positions to overwrite".into())
    })?;
    let mut planned = Vec::new();
    for (a, n) in arrays.into_iter().zip(nodes) {
        let Node::Array(existing) = n else {
            unreachable!("every array exists")
        };
        let path = node(&req.group, &a.name);
        let what = format!("array '{}'", a.name);
        let (data, resolved) = fit_update(a.data, a.dtype, &existing, selection, &what)?;
        hierarchy::open_array(txn.container(), &path, &existing.meta)?;
        planned.push((a.name, path, existing, data, resolved));
    }
    for (_, path, _, _, _) in &planned {
        txn.mark_at(path, "update")?;
    }
    let names: Vec<&str> = planned.iter().map(|p| p.0.as_str()).collect();
    txn.container()
        .describe(|| describe_group(req, "update", &names));
    let mut outcomes = Vec::new();
    for (name, path, existing, data, resolved) in planned {
        let array = hierarchy::open_array(txn.container(), &path, &existing.meta)?;
        write::write_resolved(
            &array,
            &existing.chunk_shape,
            &resolved,
            &data,
            options,
            control,
        )?;
        outcomes.push((
            name,
            SaveOutcome {
                region: resolved.axes.iter().map(|p| p.bounds()).collect(),
                shape: existing.shape,
                dtype: existing.dtype,
                created: false,
                snapshot_id: None,
            },
        ));
    }
    control.check()?;
    txn.commit(None, |_| Ok(Vec::new()))?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Elements;
    use std::borrow::Cow;

    fn f64s(values: &[f64], shape: Vec<u64>) -> NdData<'static> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        NdData::new(
            Elements::Fixed {
                dtype: DType::Float64,
                bytes: Cow::Owned(bytes),
            },
            shape,
        )
        .unwrap()
    }

    fn array(name: &str, data: NdData<'static>) -> GroupArray<'static> {
        GroupArray {
            name: name.into(),
            data,
            dtype: None,
            create: CreateOptions::default(),
        }
    }

    fn request(root: &std::path::Path, approach: Approach) -> GroupRequest {
        GroupRequest {
            location: root.display().to_string(),
            store: StoreOptions::default(),
            group: "ds".into(),
            approach,
            axis: 0,
            selection: None,
            zarr_format: 3,
            threads: Some(1),
            max_chunk_bytes: crate::bounds::DEFAULT_MAX_CHUNK_BYTES,
        }
    }

    #[test]
    fn a_group_is_created_consolidated_then_appended_together() {
        let dir = tempfile::tempdir().unwrap();
        let arrays = vec![
            array("temp", f64s(&[1.0, 2.0, 3.0, 4.0], vec![2, 2])),
            array("time", f64s(&[0.0, 1.0], vec![2])),
        ];
        save_group(
            &request(dir.path(), Approach::Append),
            arrays,
            Arc::default(),
        )
        .unwrap();
        // Consolidated as xarray writes it: at the root, listing the group's nodes.
        let root: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("zarr.json")).unwrap()).unwrap();
        let listed = &root["consolidated_metadata"]["metadata"];
        assert_eq!(
            listed["ds/temp"]["dimension_names"],
            json!(["time", "temp_dim_1"])
        );
        assert_eq!(listed["ds/time"]["dimension_names"], json!(["time"]));
        assert_eq!(listed["ds"]["node_type"], json!("group"));
        let arrays = vec![
            array("temp", f64s(&[5.0, 6.0], vec![1, 2])),
            array("time", f64s(&[2.0], vec![1])),
        ];
        let out = save_group(
            &request(dir.path(), Approach::Append),
            arrays,
            Arc::default(),
        )
        .unwrap();
        assert_eq!(out[0].1.shape, vec![3, 2]);
        let root: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("zarr.json")).unwrap()).unwrap();
        assert_eq!(
            root["consolidated_metadata"]["metadata"]["ds/time"]["shape"],
            json!([3])
        );
        // Unequal rows are refused, and nothing changes.
        let arrays = vec![
            array("temp", f64s(&[5.0, 6.0, 7.0, 8.0], vec![2, 2])),
            array("time", f64s(&[3.0], vec![1])),
        ];
        let err = save_group(
            &request(dir.path(), Approach::Append),
            arrays,
            Arc::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_SHAPE_MISMATCH");
        let again: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("zarr.json")).unwrap()).unwrap();
        assert_eq!(again, root);
    }
}
