//! The metadata JSON of a new array (`zarr.json` or `.zarray` + `.zattrs`), and the
//! default chunk shape.

use serde_json::{json, Map, Value};

use crate::bounds::{self, Origin};
use crate::codecs::{self, CodecJson, Compressor};
use crate::dtype::DType;
use crate::error::{Result, SaveError};

/// Options that apply when an array is created; ignored when it already exists.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub chunks: Option<Vec<u64>>,
    /// Shard shape (v3 sharding); `chunks` are then the inner chunks.
    pub shards: Option<Vec<u64>>,
    pub compressor: Compressor,
    pub filters: Vec<Value>,
    pub fill_value: Option<Value>,
    /// `None`: the format of the hierarchy the array joins (3 for a new one).
    pub zarr_format: Option<u32>,
    pub dimension_names: Option<Vec<Option<String>>>,
    pub attributes: Map<String, Value>,
    /// Give the container's root a consolidated copy of the hierarchy's metadata if it
    /// has none (as xarray writes), kept true by every later save.
    pub consolidated: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            chunks: None,
            shards: None,
            compressor: Compressor::Default,
            filters: Vec::new(),
            fill_value: None,
            zarr_format: None,
            dimension_names: None,
            attributes: Map::new(),
            consolidated: false,
        }
    }
}

/// Metadata documents to write for a new array, keyed by file name inside the node.
#[derive(Debug, Clone)]
pub struct NewArrayMetadata {
    /// The document zarrs validates and opens (zarr.json or .zarray).
    pub main: Value,
    /// `.zattrs` for v2 arrays with attributes.
    pub v2_attributes: Option<Value>,
}

impl NewArrayMetadata {
    /// The documents of the array at `node`, by store key, as written.
    pub fn documents(&self, node: &str, zarr_format: u32) -> Vec<(String, Value)> {
        let key = |name: &str| format!("{node}/{name}");
        if zarr_format == 2 {
            let mut docs = vec![(key(".zarray"), self.main.clone())];
            docs.extend(
                self.v2_attributes
                    .iter()
                    .map(|a| (key(".zattrs"), a.clone())),
            );
            docs
        } else {
            vec![(key("zarr.json"), self.main.clone())]
        }
    }
}

/// Bytes a string element is assumed to take when sizing chunks.
const STRING_SIZE_GUESS: u64 = 32;
/// Chunks hold at least this much (rows round up to a power of two, so < 2x this).
const TARGET_CHUNK_BYTES: u64 = 1 << 20;
/// Trailing axes are split when one row alone exceeds this.
const MAX_ROW_BYTES: u64 = 4 << 20;

/// Full trailing axes and enough rows for about 1-2 MiB, whatever the first batch's size,
/// so later appends land in a sensibly sized grid.
pub fn default_chunks(shape: &[u64], dtype: DType) -> Vec<u64> {
    let elem = dtype.size().map_or(STRING_SIZE_GUESS, |s| s as u64);
    let mut chunks = shape.to_vec();
    // Saturating: a product past u64 is simply "too wide", never a wrapped small size.
    let row_bytes = |c: &[u64]| {
        c[1..]
            .iter()
            .fold(elem, |bytes, &n| bytes.saturating_mul(n))
    };
    while row_bytes(&chunks) > MAX_ROW_BYTES {
        let (axis, _) = chunks
            .iter()
            .enumerate()
            .skip(1)
            .max_by_key(|(_, &c)| c)
            .expect("a trailing axis");
        chunks[axis] = chunks[axis].div_ceil(2);
    }
    let rows = TARGET_CHUNK_BYTES
        .div_ceil(row_bytes(&chunks))
        .next_power_of_two();
    chunks[0] = rows.max(1);
    chunks
}

fn check_shape(field: &str, given: &[u64], ndim: usize) -> Result<()> {
    if given.len() != ndim {
        return Err(SaveError::InvalidArgument(format!(
            "{field} must have {ndim} entries, one per dimension; got {given:?}"
        )));
    }
    if given.contains(&0) {
        return Err(SaveError::InvalidArgument(format!(
            "{field} entries must be positive; got {given:?}"
        )));
    }
    Ok(())
}

/// The fill value as each format spells it, checked against the dtype.
fn fill_value(given: Option<&Value>, dtype: DType) -> Result<Value> {
    let bad = |v: &Value| {
        SaveError::InvalidArgument(format!(
            "fillValue {v} is not a valid {} value",
            dtype.name()
        ))
    };
    let Some(v) = given else {
        return Ok(match dtype {
            DType::Bool => json!(false),
            DType::String => json!(""),
            DType::Float32 | DType::Float64 => json!(0.0),
            _ => json!(0),
        });
    };
    match dtype {
        DType::Bool => v.as_bool().map(Value::Bool).ok_or_else(|| bad(v)),
        DType::String => v.as_str().map(|s| json!(s)).ok_or_else(|| bad(v)),
        DType::Float32 | DType::Float64 => match v {
            Value::Number(n) => {
                let x = n.as_f64().ok_or_else(|| bad(v))?;
                if dtype == DType::Float32 && (x as f32) as f64 != x {
                    return Err(bad(v));
                }
                Ok(json!(x))
            }
            Value::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => {
                Ok(v.clone())
            }
            _ => Err(bad(v)),
        },
        _ => {
            // Integers may arrive as decimal strings (JS bigints).
            let i: i128 = match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
                    .ok_or_else(|| bad(v))?,
                Value::String(s) => s.parse().map_err(|_| bad(v))?,
                _ => return Err(bad(v)),
            };
            let (lo, hi): (i128, i128) = match dtype {
                DType::Int8 => (i8::MIN.into(), i8::MAX.into()),
                DType::Int16 => (i16::MIN.into(), i16::MAX.into()),
                DType::Int32 => (i32::MIN.into(), i32::MAX.into()),
                DType::Int64 => (i64::MIN.into(), i64::MAX.into()),
                DType::UInt8 => (0, u8::MAX.into()),
                DType::UInt16 => (0, u16::MAX.into()),
                DType::UInt32 => (0, u32::MAX.into()),
                _ => (0, u64::MAX.into()),
            };
            if !(lo..=hi).contains(&i) {
                return Err(bad(v));
            }
            Ok(if i < 0 {
                json!(i as i64)
            } else {
                json!(i as u64)
            })
        }
    }
}

/// Build the metadata of a new array of `shape` and `dtype` at `dataset`, whose
/// chunks (shards, when sharded) must each fit in `max_chunk_bytes` and in what
/// its codecs can encode (see [`bounds::check_array`]).
pub fn new_array(
    dataset: &str,
    shape: &[u64],
    dtype: DType,
    opts: &CreateOptions,
    max_chunk_bytes: u64,
) -> Result<NewArrayMetadata> {
    let ndim = shape.len();
    if ndim > bounds::MAX_RANK {
        return Err(SaveError::InvalidData(format!(
            "data for dataset '{dataset}' has {ndim} dimensions; at most {} are supported (numpy's limit)",
            bounds::MAX_RANK
        )));
    }
    let chunks = match &opts.chunks {
        Some(c) => {
            check_shape("chunks", c, ndim)?;
            c.clone()
        }
        None => {
            let mut chunks = default_chunks(shape, dtype);
            // A bound below the default size takes fewer rows (a power of two, as above).
            let elem = dtype.size().map_or(STRING_SIZE_GUESS, |s| s as u64);
            let row = chunks[1..].iter().fold(elem, |b, &n| b.saturating_mul(n));
            let rows = (max_chunk_bytes / row.max(1)).max(1);
            if rows < chunks[0] {
                chunks[0] = 1 << rows.ilog2();
            }
            chunks
        }
    };
    if let Some(names) = &opts.dimension_names {
        if names.len() != ndim {
            return Err(SaveError::InvalidArgument(format!(
                "dimensionNames must have {ndim} entries, one per dimension; got {}",
                names.len()
            )));
        }
    }
    let fill = fill_value(opts.fill_value.as_ref(), dtype)?;
    let compressor: Option<CodecJson> = match &opts.compressor {
        Compressor::Default => Some(codecs::default_compressor(dtype)),
        Compressor::None => None,
        Compressor::Config(c) => Some(codecs::normalise(c, dtype, "compressor")?),
    };
    let filters = opts
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| codecs::normalise(f, dtype, &format!("filters[{i}]")))
        .collect::<Result<Vec<_>>>()?;

    let parts = Parts {
        shape,
        dtype,
        chunks,
        fill,
        compressor,
        filters,
        opts,
    };
    let new = match opts.zarr_format.unwrap_or(3) {
        3 => parts.v3(),
        2 => parts.v2(),
        f => Err(SaveError::InvalidArgument(format!(
            "zarrFormat must be 2 or 3; got {f}"
        ))),
    }?;
    bounds::check_array(&new.main, dtype, dataset, Origin::Options, max_chunk_bytes)?;
    Ok(new)
}

/// A new array's metadata as [`new_array`] resolved and checked it, before one
/// Zarr format or the other writes it down.
struct Parts<'a> {
    shape: &'a [u64],
    dtype: DType,
    chunks: Vec<u64>,
    fill: Value,
    compressor: Option<CodecJson>,
    filters: Vec<CodecJson>,
    opts: &'a CreateOptions,
}

impl Parts<'_> {
    /// Zarr v3 `zarr.json`: codecs in one list, shards as the sharding codec.
    fn v3(self) -> Result<NewArrayMetadata> {
        let serializer = if self.dtype == DType::String {
            json!({"name": "vlen-utf8", "configuration": {}})
        } else {
            json!({"name": "bytes", "configuration": {"endian": "little"}})
        };
        let mut codecs: Vec<Value> = self.filters.into_iter().map(|f| f.v3).collect();
        codecs.push(serializer);
        codecs.extend(self.compressor.map(|c| c.v3));
        let (grid, codecs) = match &self.opts.shards {
            None => (self.chunks, codecs),
            Some(shards) => {
                let (chunks, ndim) = (&self.chunks, self.shape.len());
                check_shape("shards", shards, ndim)?;
                if let Some(axis) = (0..ndim).find(|&i| shards[i] % chunks[i] != 0) {
                    return Err(SaveError::InvalidArgument(format!(
                        "shards {shards:?} must be a multiple of chunks {chunks:?} (axis {axis})"
                    )));
                }
                let sharding = json!({"name": "sharding_indexed", "configuration": {
                    "chunk_shape": chunks,
                    "codecs": codecs,
                    "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                    "index_location": "end"}});
                (shards.clone(), vec![sharding])
            }
        };
        let mut meta = json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": self.shape,
            "data_type": self.dtype.name(),
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": self.fill,
            "codecs": codecs,
            "attributes": self.opts.attributes,
        });
        if let Some(names) = &self.opts.dimension_names {
            meta["dimension_names"] = json!(names);
        }
        Ok(NewArrayMetadata {
            main: meta,
            v2_attributes: None,
        })
    }

    /// Zarr v2 `.zarray` (and `.zattrs`, which carries the dimension names).
    fn v2(self) -> Result<NewArrayMetadata> {
        if self.opts.shards.is_some() {
            return Err(SaveError::InvalidArgument(
                "shards need zarrFormat 3 (sharding is a Zarr v3 codec)".into(),
            ));
        }
        let mut filters = self
            .filters
            .iter()
            .enumerate()
            .map(|(i, f)| codecs::v2_of(f, &format!("filters[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        if self.dtype == DType::String {
            // Object arrays name their encoding as the last filter (zarr-python / numcodecs convention).
            filters.push(json!({"id": "vlen-utf8"}));
        }
        let compressor = self
            .compressor
            .map(|c| codecs::v2_of(&c, "compressor"))
            .transpose()?;
        let meta = json!({
            "zarr_format": 2,
            "shape": self.shape,
            "chunks": self.chunks,
            "dtype": self.dtype.v2_typestr(),
            "compressor": compressor,
            "fill_value": self.fill,
            "order": "C",
            "filters": if filters.is_empty() { Value::Null } else { json!(filters) },
            "dimension_separator": ".",
        });
        let mut attributes = self.opts.attributes.clone();
        if let Some(names) = &self.opts.dimension_names {
            // xarray's convention for naming v2 dimensions.
            attributes.insert("_ARRAY_DIMENSIONS".into(), json!(names));
        }
        let v2_attributes = (!attributes.is_empty()).then(|| Value::Object(attributes));
        Ok(NewArrayMetadata {
            main: meta,
            v2_attributes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chunks_hold_about_one_mib_whatever_the_batch() {
        assert_eq!(default_chunks(&[5, 16], DType::Float64), vec![8192, 16]);
        assert_eq!(
            default_chunks(&[2_000_000, 16], DType::Float64),
            vec![8192, 16]
        );
        assert_eq!(default_chunks(&[3], DType::UInt8), vec![1 << 20]);
        let wide = default_chunks(&[2, 4096, 4096], DType::Float32);
        assert!(wide[1] * wide[2] * 4 <= MAX_ROW_BYTES, "{wide:?}");
    }

    #[test]
    fn fill_values_are_checked_against_the_dtype() {
        assert!(fill_value(Some(&json!(300)), DType::UInt8).is_err());
        assert_eq!(
            fill_value(Some(&json!("18446744073709551615")), DType::UInt64).unwrap(),
            json!(u64::MAX)
        );
        assert!(fill_value(Some(&json!(0.1)), DType::Float32).is_err());
        assert_eq!(
            fill_value(Some(&json!("NaN")), DType::Float64).unwrap(),
            json!("NaN")
        );
    }

    #[test]
    fn shards_must_be_whole_chunks() {
        let opts = CreateOptions {
            chunks: Some(vec![3]),
            shards: Some(vec![10]),
            ..Default::default()
        };
        assert!(new_array("d", &[10], DType::Int32, &opts, 1 << 30).is_err());
    }

    #[test]
    fn chunks_over_the_bound_are_refused_before_anything_is_written() {
        let opts = CreateOptions {
            chunks: Some(vec![1 << 40]),
            ..Default::default()
        };
        let err = new_array("d", &[2], DType::Float64, &opts, 1 << 30).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        let err = new_array(
            "d",
            &vec![1; 10_000],
            DType::Float64,
            &Default::default(),
            1 << 30,
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_DATA");
        // Default chunks of any batch fit the default bound, and a smaller one.
        let options = CreateOptions::default();
        new_array("d", &[3, 1 << 30], DType::Float64, &options, 1 << 30).unwrap();
        let small = new_array("d", &[5, 16], DType::Float64, &options, 1000).unwrap();
        let grid = &small.main["chunk_grid"]["configuration"]["chunk_shape"];
        assert_eq!(grid, &json!([4, 16]));
    }
}
