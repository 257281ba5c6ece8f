//! Sizes checked before anything is allocated, so that no option, no stored file
//! and no arithmetic on shapes can take the host process down: an allocation that
//! fails aborts the process, and unchecked arithmetic wraps silently in release
//! builds. Each rule here is a pure function; the callers say whose numbers they
//! are ([`Origin`]): options the user gave are an `InvalidArgument`, stored
//! metadata is `Corrupt`.
//!
//! The unit is the chunk of the array's grid, because that is what zarrs decodes
//! and encodes whole: for a sharded array, the whole shard (a partial write reads,
//! patches and rewrites the shard), so the shard is held to the bound too.

use serde_json::Value;

use crate::dtype::DType;
use crate::error::{Result, SaveError};

/// Largest decoded chunk (or shard) a save holds in memory unless `maxChunkBytes`
/// says otherwise: 256 MiB. A chunk costs about three times its size while it is
/// patched and encoded (the old decoding, the new one, the encoding), so the
/// default keeps a save under 1 GiB.
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 1 << 28;

/// Dimensions an array may have: numpy's limit (`NPY_MAXDIMS` in numpy 2), so that
/// zarr-python can open whatever this crate writes or accepts.
pub const MAX_RANK: usize = 64;

/// The longest axis: 2^63 - 1, numpy's (and so zarr-python's) largest index, and
/// the largest length JavaScript receives as a signed 64-bit integer.
pub const MAX_EXTENT: u64 = i64::MAX as u64;

/// c-blosc compresses at most `BLOSC_MAX_BUFFERSIZE` = `INT_MAX - BLOSC_MAX_OVERHEAD`
/// bytes in one buffer: 2^31 - 16.
pub const BLOSC_MAX_BYTES: u64 = (1 << 31) - 16;

/// Whose numbers a check is about, which decides the error's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Options of this save (a new array's `chunks`, `shards`, its data's shape).
    Options,
    /// Metadata already in the store.
    Stored,
}

impl Origin {
    fn error(self, message: String) -> SaveError {
        match self {
            Origin::Options => SaveError::InvalidArgument(message),
            Origin::Stored => SaveError::Corrupt(message),
        }
    }
}

/// The number of elements of `shape`, if it fits a `u64`.
pub fn elements(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d))
}

/// Bytes of a C-order buffer of `shape` with `element_bytes`-byte elements, as a
/// length this machine can allocate; `None` if the product overflows.
pub fn buffer_len(shape: &[u64], element_bytes: usize) -> Option<usize> {
    let bytes = elements(shape)?.checked_mul(element_bytes as u64)?;
    usize::try_from(bytes).ok()
}

/// [`buffer_len`] as an error naming the array, for a buffer about to be allocated
/// (the metadata checks below make this unreachable for arrays they passed).
pub fn allocation(shape: &[u64], element_bytes: usize, dataset: &str) -> Result<usize> {
    buffer_len(shape, element_bytes).ok_or_else(|| {
        SaveError::Corrupt(format!(
            "a chunk of shape {shape:?} of dataset '{dataset}' has more bytes than this machine can address"
        ))
    })
}

/// Bytes one element takes in memory while a chunk is held decoded (a string: its
/// handle, at least; its text comes on top).
pub fn element_bytes(dtype: DType) -> u64 {
    dtype.size().unwrap_or(std::mem::size_of::<String>()) as u64
}

/// `shape` grown by `added` along `axis`, or `OutOfBounds` when the new length
/// passes [`MAX_EXTENT`] (or would wrap past 2^64 - 1).
pub fn grown(shape: &[u64], axis: usize, added: u64, dataset: &str) -> Result<Vec<u64>> {
    let mut out = shape.to_vec();
    let old = *shape.get(axis).ok_or_else(|| {
        SaveError::InvalidArgument(format!(
            "axis {axis} is out of range for dataset '{dataset}' of shape {shape:?}"
        ))
    })?;
    out[axis] = old
        .checked_add(added)
        .filter(|&n| n <= MAX_EXTENT)
        .ok_or_else(|| {
            SaveError::OutOfBounds(format!(
                "appending {added} rows along axis {axis} to dataset '{dataset}' of shape \
                 {shape:?} would end past {MAX_EXTENT} (2^63 - 1), the longest axis readers index"
            ))
        })?;
    Ok(out)
}

/// The rank of a shape: at most [`MAX_RANK`].
pub fn check_rank(shape: &[u64], what: &str, origin: Origin) -> Result<()> {
    if shape.len() > MAX_RANK {
        return Err(origin.error(format!(
            "{what} has {} dimensions; at most {MAX_RANK} are supported (numpy's limit)",
            shape.len()
        )));
    }
    Ok(())
}

/// The sizes a blosc chunk's 16-byte header declares (c-blosc 1.x: decoded bytes
/// at 4..8, block size at 8..12) must fit the `len` bytes the chunk decodes to:
/// c-blosc allocates them before it looks at the data.
pub fn check_blosc_header(encoded: &[u8], len: usize, key: &str) -> Result<()> {
    let field = |at: usize| {
        encoded
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    match (field(4), field(8)) {
        (Some(nbytes), Some(blocksize)) if nbytes <= len && blocksize <= len.max(1) => Ok(()),
        (Some(nbytes), Some(_)) => Err(SaveError::Corrupt(format!(
            "chunk '{key}' is damaged: its blosc header declares {nbytes} bytes (or blocks of \
             more), and a chunk of this array decodes to {len}"
        ))),
        _ => Err(SaveError::Corrupt(format!(
            "chunk '{key}' is damaged: {} bytes, shorter than a blosc header",
            encoded.len()
        ))),
    }
}

/// One level of chunking: its shape, what to call it in a message, and whether it
/// goes through blosc.
struct Level {
    shape: Vec<u64>,
    name: &'static str,
    blosc: bool,
}

fn u64s(value: &Value) -> Option<Vec<u64>> {
    value.as_array()?.iter().map(Value::as_u64).collect()
}

/// A codec entry (v3 `{name}` or bare name, v2 `{id}`) that is blosc.
fn is_blosc(codec: &Value) -> bool {
    let name = codec
        .as_str()
        .or_else(|| codec.get("name").or_else(|| codec.get("id"))?.as_str());
    name == Some("blosc")
}

/// The chunk levels of array metadata (v2 or v3), outermost first: the grid's chunk
/// (the shard when sharded), then each sharding level's inner chunk.
fn levels(meta: &Value, dataset: &str, origin: Origin) -> Result<Vec<Level>> {
    let bad = |what: &str| origin.error(format!("metadata of dataset '{dataset}' has {what}"));
    let v2 = meta.get("zarr_format").and_then(Value::as_u64) == Some(2);
    if v2 {
        let shape = u64s(&meta["chunks"]).ok_or_else(|| bad("no valid 'chunks'"))?;
        let blosc = meta.get("compressor").is_some_and(is_blosc)
            || meta["filters"]
                .as_array()
                .is_some_and(|f| f.iter().any(is_blosc));
        return Ok(vec![Level {
            shape,
            name: "chunks",
            blosc,
        }]);
    }
    let grid = &meta["chunk_grid"]["configuration"]["chunk_shape"];
    let shape = u64s(grid).ok_or_else(|| bad("no valid chunk_grid chunk_shape"))?;
    let mut levels = Vec::new();
    let mut codecs = meta.get("codecs").cloned().unwrap_or(Value::Null);
    let mut current = Level {
        shape,
        name: "chunks",
        blosc: false,
    };
    loop {
        let list = codecs.as_array().cloned().unwrap_or_default();
        current.blosc = list.iter().any(is_blosc);
        let sharding = list
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"));
        let Some(sharding) = sharding.cloned() else {
            levels.push(current);
            return Ok(levels);
        };
        let config = &sharding["configuration"];
        let inner = u64s(&config["chunk_shape"])
            .ok_or_else(|| bad("a sharding codec with no valid chunk_shape"))?;
        current.name = "shards";
        levels.push(current);
        if levels.len() > MAX_RANK {
            return Err(bad("sharding codecs nested too deep"));
        }
        current = Level {
            shape: inner,
            name: "chunks",
            blosc: false,
        };
        codecs = config["codecs"].clone();
    }
}

/// Bytes one outermost chunk (a shard, when sharded) of the array whose metadata is
/// `meta` holds decoded; `None` when its chunking cannot be read (then
/// [`check_array`] refuses it).
pub fn outer_chunk_bytes(meta: &Value, dtype: DType) -> Option<u64> {
    let levels = levels(meta, "", Origin::Stored).ok()?;
    elements(&levels.first()?.shape)?.checked_mul(element_bytes(dtype))
}

/// Check the chunking of array metadata `meta` (v2 or v3, new or stored) before
/// any chunk of it is allocated: its rank, every chunk level's rank and extents,
/// each level's decoded bytes against the codec's own limit (blosc), and the
/// outermost level (the unit zarrs holds whole) against `max_chunk_bytes`.
/// `dtype` is the array's element type.
pub fn check_array(
    meta: &Value,
    dtype: DType,
    dataset: &str,
    origin: Origin,
    max_chunk_bytes: u64,
) -> Result<()> {
    let shape = u64s(&meta["shape"]).ok_or_else(|| {
        origin.error(format!(
            "metadata of dataset '{dataset}' has no valid 'shape'"
        ))
    })?;
    check_rank(&shape, &format!("dataset '{dataset}'"), origin)?;
    if shape.iter().any(|&n| n > MAX_EXTENT) {
        return Err(origin.error(format!(
            "dataset '{dataset}' has shape {shape:?}, past {MAX_EXTENT} (2^63 - 1), the longest \
             axis numpy and zarr-python index"
        )));
    }
    let element = element_bytes(dtype);
    for (depth, level) in levels(meta, dataset, origin)?.iter().enumerate() {
        let chunk = &level.shape;
        let what = match origin {
            Origin::Options => format!("{} {chunk:?} of dataset '{dataset}'", level.name),
            Origin::Stored => format!("dataset '{dataset}' has stored {} {chunk:?}", level.name),
        };
        if chunk.len() != shape.len() {
            return Err(origin.error(format!(
                "{what}: {} entries for an array of shape {shape:?}",
                chunk.len()
            )));
        }
        if chunk.contains(&0) {
            return Err(origin.error(format!("{what}: an extent is zero")));
        }
        let bytes = elements(chunk).and_then(|n| n.checked_mul(element));
        let shown = bytes.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string());
        if level.blosc && bytes.is_none_or(|b| b > BLOSC_MAX_BYTES) {
            return Err(origin.error(format!(
                "{what}: {shown} bytes per chunk ({element}-byte {} elements), and blosc \
                 compresses at most {BLOSC_MAX_BYTES} bytes (2^31 - 16) per chunk",
                dtype.name()
            )));
        }
        if depth == 0 && bytes.is_none_or(|b| b > max_chunk_bytes) {
            let advice = match origin {
                Origin::Options => "; pick smaller chunks (or shards) or raise maxChunkBytes",
                Origin::Stored => "; raise maxChunkBytes if this machine can hold such a chunk",
            };
            return Err(origin.error(format!(
                "{what}: {shown} bytes per chunk ({element}-byte {} elements), over \
                 maxChunkBytes {max_chunk_bytes}{advice}",
                dtype.name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v3(shape: &[u64], chunks: &[u64], codecs: Value) -> Value {
        json!({"zarr_format": 3, "shape": shape,
               "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
               "codecs": codecs})
    }

    fn blosc() -> Value {
        json!([{"name": "bytes"}, {"name": "blosc", "configuration": {}}])
    }

    #[test]
    fn a_chunk_over_the_bound_is_the_users_error_or_the_stores() {
        let meta = v3(&[2], &[1 << 40], json!([{"name": "bytes"}]));
        let err = check_array(&meta, DType::Float64, "d", Origin::Options, 1 << 30).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        let text = err.to_string();
        assert!(text.contains("[1099511627776]"), "{text}");
        assert!(text.contains("8796093022208 bytes"), "{text}");
        assert!(text.contains("'d'"), "{text}");
        let err = check_array(&meta, DType::Float64, "d", Origin::Stored, 1 << 30).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CORRUPT");
        // Raising the bound lets the same chunks through.
        check_array(&meta, DType::Float64, "d", Origin::Options, u64::MAX).unwrap();
    }

    #[test]
    fn blosc_refuses_chunks_past_its_own_limit_whatever_the_bound() {
        let meta = v3(&[2], &[1 << 28], blosc());
        let err = check_array(&meta, DType::Float64, "d", Origin::Options, u64::MAX).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert!(err.to_string().contains("blosc"), "{err}");
        assert!(err.to_string().contains("2147483648 bytes"), "{err}");
        // Just under the limit passes.
        let meta = v3(&[2], &[BLOSC_MAX_BYTES], blosc());
        check_array(&meta, DType::UInt8, "d", Origin::Options, u64::MAX).unwrap();
        let v2 = json!({"zarr_format": 2, "shape": [2], "chunks": [1u64 << 31],
                        "compressor": {"id": "blosc"}});
        let err = check_array(&v2, DType::UInt8, "d", Origin::Stored, u64::MAX).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CORRUPT");
    }

    #[test]
    fn a_shard_is_held_to_the_bound_and_its_inner_chunks_to_the_codec() {
        let sharded = |shard: u64, inner: u64| {
            v3(
                &[2],
                &[shard],
                json!([{"name": "sharding_indexed", "configuration": {
                    "chunk_shape": [inner], "codecs": blosc()}}]),
            )
        };
        let err = check_array(
            &sharded(1 << 50, 1 << 20),
            DType::Float64,
            "d",
            Origin::Options,
            1 << 30,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("shards [1125899906842624]"),
            "{err}"
        );
        let err = check_array(
            &sharded(1 << 29, 1 << 29),
            DType::Float64,
            "d",
            Origin::Options,
            u64::MAX,
        )
        .unwrap_err();
        assert!(err.to_string().contains("blosc"), "{err}");
        check_array(
            &sharded(1 << 20, 1 << 10),
            DType::Float64,
            "d",
            Origin::Options,
            1 << 30,
        )
        .unwrap();
    }

    #[test]
    fn ranks_and_extents_are_checked() {
        let zero_rank = v3(&[5], &[], json!([]));
        assert!(check_array(&zero_rank, DType::Int8, "d", Origin::Stored, u64::MAX).is_err());
        let zero = v3(&[5], &[0], json!([]));
        assert!(check_array(&zero, DType::Int8, "d", Origin::Stored, u64::MAX).is_err());
        let wide = vec![1u64; 10_000];
        let err = check_array(
            &v3(&wide, &wide, json!([])),
            DType::Int8,
            "d",
            Origin::Stored,
            1 << 30,
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CORRUPT");
        assert!(err.to_string().contains("10000 dimensions"), "{err}");
        // Chunk bytes that overflow u64 are over any bound, not wrapped.
        let huge = v3(&[1, 1], &[u64::MAX, 3], json!([]));
        let err = check_array(&huge, DType::Int8, "d", Origin::Stored, u64::MAX).unwrap_err();
        assert!(err.to_string().contains("more than 2^64"), "{err}");
    }

    #[test]
    fn a_blosc_header_may_not_declare_more_than_the_chunk_holds() {
        let mut header = vec![2u8, 1, 1, 8];
        header.extend(800u32.to_le_bytes());
        header.extend(800u32.to_le_bytes());
        header.extend(16u32.to_le_bytes());
        check_blosc_header(&header, 800, "d/c/0").unwrap();
        let err = check_blosc_header(&header, 799, "d/c/0").unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CORRUPT");
        assert!(err.to_string().contains("'d/c/0'"), "{err}");
        assert!(check_blosc_header(&header[..10], 800, "d/c/0").is_err());
    }

    #[test]
    fn lengths_never_wrap() {
        let near = [MAX_EXTENT - 5];
        assert_eq!(grown(&near, 0, 5, "d").unwrap(), vec![MAX_EXTENT]);
        let err = grown(&near, 0, 6, "d").unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_OUT_OF_BOUNDS");
        let err = grown(&[u64::MAX - 5], 0, 10, "d").unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_OUT_OF_BOUNDS");
        let stored = v3(&[u64::MAX - 5], &[10], json!([]));
        let err = check_array(&stored, DType::Int8, "d", Origin::Stored, u64::MAX).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CORRUPT");
        assert_eq!(buffer_len(&[u64::MAX, 2], 1), None);
        assert_eq!(buffer_len(&[3, 4], 8), Some(96));
        assert!(allocation(&[1 << 40, 1 << 40], 8, "d").is_err());
    }
}
