//! Reading and writing the nodes of a Zarr hierarchy: what sits at a dataset path
//! (nothing, a group, an array in v2 or v3), the group documents its ancestors
//! need, and a zarrs array over metadata.

use serde::Deserialize;
use serde_json::{json, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3};
use zarrs::storage::ReadableWritableStorageTraits;

use crate::bounds::{self, Origin};
use crate::dtype::DType;
use crate::error::{from_open_error, Result, SaveError};
use crate::store::{Container, Version};

/// A zarrs array over any of our stores.
pub type ZArray = Array<dyn ReadableWritableStorageTraits>;

/// Metadata of an array already in the store, kept as raw JSON so that a later
/// commit changes `shape` and nothing else.
pub struct Existing {
    /// The metadata document's key (`<dataset>/zarr.json` or `<dataset>/.zarray`).
    pub key: String,
    pub meta: Value,
    pub version: Version,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub chunk_shape: Vec<u64>,
}

impl Existing {
    /// 2 for `.zarray` metadata, else 3.
    pub fn zarr_format(&self) -> u32 {
        if self.key.ends_with(".zarray") {
            2
        } else {
            3
        }
    }
}

/// What sits at a dataset path.
pub enum Node {
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

/// [`read_node`] for a save that will hold the array's chunks in memory: an array
/// whose chunks (shards, when sharded) take more than `max_chunk_bytes` each is
/// refused as `Corrupt` before anything is read or written.
pub fn read_node_bounded(
    container: &Container,
    dataset: &str,
    max_chunk_bytes: u64,
) -> Result<Node> {
    let node = read_node(container, dataset)?;
    if let Node::Array(e) = &node {
        bounds::check_array(&e.meta, e.dtype, dataset, Origin::Stored, max_chunk_bytes)?;
    }
    Ok(node)
}

/// Read the node at `dataset` (v3 first, then v2). An array's shape and chunking
/// are checked for what no reader could hold (rank, zero or mismatched chunk
/// extents, sizes past 2^64, chunks past their codec's limit), not yet against a
/// save's memory bound.
pub fn read_node(container: &Container, dataset: &str) -> Result<Node> {
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
    let dtype = DType::from_metadata(&meta, dataset)?;
    bounds::check_array(&meta, dtype, dataset, Origin::Stored, u64::MAX)?;
    Ok(Node::Array(Existing {
        shape: shape_of(&meta, "shape", dataset)?,
        dtype,
        key,
        meta,
        version,
        chunk_shape,
    }))
}

/// A zarrs array over `meta` at `path` (`""`: the container's root), which zarrs
/// validates: codecs, dtype, fill value. Nothing is read or written.
pub fn open_array(container: &Container, path: &str, meta: &Value) -> Result<ZArray> {
    let shown = if path.is_empty() { "/" } else { path };
    let parsed = if meta.get("zarr_format").and_then(Value::as_u64) == Some(2) {
        ArrayMetadataV2::deserialize(meta).map(ArrayMetadata::V2)
    } else {
        ArrayMetadataV3::deserialize(meta).map(ArrayMetadata::V3)
    }
    .map_err(|e| SaveError::Corrupt(format!("metadata of dataset '{shown}' is invalid: {e}")))?;
    let storage = container.storage.clone();
    Array::new_with_metadata(storage, &format!("/{path}"), parsed)
        .map_err(|e| from_open_error(shown, e))
}

/// The group documents the ancestors of `dataset` lack (key and JSON), so that
/// `open_group(filePath)` lists it; an ancestor that is an array is an error.
/// Only reads.
pub fn missing_groups(
    container: &Container,
    dataset: &str,
    zarr_format: u32,
) -> Result<Vec<(String, Value)>> {
    let segments: Vec<&str> = dataset.split('/').collect();
    let mut docs = Vec::new();
    for depth in 0..segments.len() {
        let parent = segments[..depth].join("/");
        let prefix = if parent.is_empty() {
            String::new()
        } else {
            format!("{parent}/")
        };
        let is_array = |what: &str| {
            SaveError::InvalidArgument(format!(
                "datasetName '{dataset}': '{what}' is an array, not a group"
            ))
        };
        let shown = if parent.is_empty() {
            "filePath"
        } else {
            &parent
        };
        // zarr-python lists no v2 node in a v3 group, nor the reverse.
        let other_format = |group: u32| {
            SaveError::InvalidArgument(format!(
                "zarrFormat {zarr_format}: '{shown}' is a Zarr v{group} group, and a hierarchy \
                 holds one format (readers list no v{zarr_format} node in a v{group} group)"
            ))
        };
        if let Some(meta) = container.get_json(&format!("{prefix}zarr.json"))? {
            if meta.get("node_type").and_then(Value::as_str) != Some("group") {
                return Err(is_array(shown));
            }
            if zarr_format != 3 {
                return Err(other_format(3));
            }
            continue;
        }
        if container.get_json(&format!("{prefix}.zgroup"))?.is_some() {
            if zarr_format != 2 {
                return Err(other_format(2));
            }
            continue;
        }
        if container.get_json(&format!("{prefix}.zarray"))?.is_some() {
            return Err(is_array(shown));
        }
        docs.push(if zarr_format == 2 {
            (format!("{prefix}.zgroup"), json!({"zarr_format": 2}))
        } else {
            (
                format!("{prefix}zarr.json"),
                json!({"zarr_format": 3, "node_type": "group", "attributes": {}}),
            )
        });
    }
    Ok(docs)
}
