//! Compressor and filter configs, numcodecs style (`{ id, ... }`) or Zarr v3 style
//! (`{ name, configuration }`), turned into the codec JSON of either format.

use serde_json::{json, Map, Value};

use crate::dtype::DType;
use crate::error::{Result, SaveError};

/// The compressor a new array gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Compressor {
    /// Blosc lz4, clevel 5, byte shuffle: the zarr-python 2 default.
    Default,
    /// No compression.
    None,
    /// A numcodecs or v3 codec config.
    Config(Value),
}

/// A codec in both spellings.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecJson {
    pub v3: Value,
    pub v2: Value,
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> SaveError {
    SaveError::InvalidArgument(format!("{field}: {msg}"))
}

fn unsupported(field: &str, name: &str) -> SaveError {
    SaveError::Unsupported(format!(
        "{field}: codec '{name}' cannot be encoded by zarr-saver"
    ))
}

fn int_in(
    cfg: &Map<String, Value>,
    key: &str,
    default: i64,
    lo: i64,
    hi: i64,
    field: &str,
) -> Result<i64> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_i64() {
            Some(i) if (lo..=hi).contains(&i) => Ok(i),
            _ => Err(invalid(
                field,
                format!("{key} must be an integer in {lo}..={hi}; got {v}"),
            )),
        },
    }
}

const BLOSC_CNAMES: [&str; 6] = ["lz4", "lz4hc", "blosclz", "zstd", "zlib", "snappy"];
const SHUFFLE_NAMES: [&str; 3] = ["noshuffle", "shuffle", "bitshuffle"];

fn blosc(cfg: &Map<String, Value>, dtype: DType, field: &str) -> Result<CodecJson> {
    let cname = cfg.get("cname").and_then(Value::as_str).unwrap_or("lz4");
    if !BLOSC_CNAMES.contains(&cname) {
        return Err(invalid(
            field,
            format!(
                "blosc cname must be one of {}; got '{cname}'",
                BLOSC_CNAMES.join(", ")
            ),
        ));
    }
    let clevel = int_in(cfg, "clevel", 5, 0, 9, field)?;
    let blocksize = int_in(cfg, "blocksize", 0, 0, i64::from(u32::MAX), field)?;
    // numcodecs spells shuffle 0/1/2 (-1 = auto: bit for 1-byte types, byte otherwise); v3 spells it by name.
    let typesize = dtype.size().unwrap_or(1) as i64;
    let shuffle = match cfg.get("shuffle") {
        // Strings are bytes by the time blosc sees them: by default, don't shuffle them.
        None | Some(Value::Null) if dtype == DType::String => 0,
        None | Some(Value::Null) => 1,
        Some(Value::String(s)) => SHUFFLE_NAMES.iter().position(|n| n == s).ok_or_else(|| {
            invalid(
                field,
                format!(
                    "blosc shuffle must be one of {}; got '{s}'",
                    SHUFFLE_NAMES.join(", ")
                ),
            )
        })? as i64,
        Some(v) => match v.as_i64() {
            Some(-1) => {
                if typesize == 1 {
                    2
                } else {
                    1
                }
            }
            Some(i @ 0..=2) => i,
            _ => {
                return Err(invalid(
                    field,
                    format!("blosc shuffle must be -1, 0, 1 or 2; got {v}"),
                ))
            }
        },
    };
    Ok(CodecJson {
        v3: json!({"name": "blosc", "configuration": {
            "cname": cname, "clevel": clevel, "shuffle": SHUFFLE_NAMES[shuffle as usize],
            "typesize": typesize, "blocksize": blocksize}}),
        v2: json!({"id": "blosc", "cname": cname, "clevel": clevel, "shuffle": shuffle, "blocksize": blocksize}),
    })
}

/// Normalise a compressor or filter config to both spellings.
/// `kind` is "compressor" or "filter", for the bytes->bytes / array->array split.
pub fn normalise(config: &Value, dtype: DType, field: &str) -> Result<CodecJson> {
    let obj = config
        .as_object()
        .ok_or_else(|| invalid(field, format!("expected a codec object; got {config}")))?;
    // v3 spelling: { name, configuration } -> fold to numcodecs keys so one table serves both.
    let (name, cfg) = if let Some(name) = obj.get("name").and_then(Value::as_str) {
        let cfg = match obj.get("configuration") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(invalid(
                    field,
                    format!("configuration must be an object; got {other}"),
                ))
            }
        };
        (
            name.strip_prefix("numcodecs.").unwrap_or(name).to_string(),
            cfg,
        )
    } else if let Some(id) = obj.get("id").and_then(Value::as_str) {
        let mut cfg = obj.clone();
        cfg.remove("id");
        (id.to_string(), cfg)
    } else {
        return Err(invalid(
            field,
            format!("a codec needs an 'id' (numcodecs) or a 'name' (Zarr v3); got {config}"),
        ));
    };
    match name.as_str() {
        "blosc" => blosc(&cfg, dtype, field),
        "zstd" => {
            let level = int_in(&cfg, "level", 1, -131072, 22, field)?;
            let checksum = cfg
                .get("checksum")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Ok(CodecJson {
                v3: json!({"name": "zstd", "configuration": {"level": level, "checksum": checksum}}),
                // numcodecs leaves `checksum` out when false (zarr-python writes the
                // same), and tensorstore refuses a member it does not expect.
                v2: if checksum {
                    json!({"id": "zstd", "level": level, "checksum": true})
                } else {
                    json!({"id": "zstd", "level": level})
                },
            })
        }
        "gzip" => {
            let level = int_in(&cfg, "level", 1, 0, 9, field)?;
            Ok(CodecJson {
                v3: json!({"name": "gzip", "configuration": {"level": level}}),
                v2: json!({"id": "gzip", "level": level}),
            })
        }
        "zlib" | "bz2" => {
            let level = int_in(
                &cfg,
                "level",
                if name == "zlib" { 1 } else { 9 },
                0,
                9,
                field,
            )?;
            Ok(CodecJson {
                v3: json!({"name": format!("numcodecs.{name}"), "configuration": {"level": level}}),
                v2: json!({"id": name, "level": level}),
            })
        }
        "crc32c" => Ok(CodecJson {
            v3: json!({"name": "crc32c"}),
            v2: json!({"id": "crc32c"}),
        }),
        "transpose" => {
            let order = cfg
                .get("order")
                .cloned()
                .ok_or_else(|| invalid(field, "transpose needs an 'order'"))?;
            Ok(CodecJson {
                v3: json!({"name": "transpose", "configuration": {"order": order}}),
                v2: Value::Null,
            })
        }
        "bitround" => {
            let keepbits = int_in(&cfg, "keepbits", -1, 0, 52, field)?;
            if keepbits < 0 {
                return Err(invalid(field, "bitround needs 'keepbits'"));
            }
            Ok(CodecJson {
                v3: json!({"name": "numcodecs.bitround", "configuration": {"keepbits": keepbits}}),
                v2: json!({"id": "bitround", "keepbits": keepbits}),
            })
        }
        other => Err(unsupported(field, other)),
    }
}

/// The v2 spelling of a codec, or `Unsupported` when it has none (transpose).
pub fn v2_of(codec: &CodecJson, field: &str) -> Result<Value> {
    if codec.v2.is_null() {
        let name = codec.v3.get("name").and_then(Value::as_str).unwrap_or("?");
        return Err(SaveError::Unsupported(format!(
            "{field}: codec '{name}' has no Zarr v2 form; use zarrFormat 3"
        )));
    }
    Ok(codec.v2.clone())
}

pub fn default_compressor(dtype: DType) -> CodecJson {
    blosc(&Map::new(), dtype, "compressor").expect("the default blosc config is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numcodecs_and_v3_spellings_agree() {
        let a = normalise(
            &json!({"id": "blosc", "cname": "zstd", "clevel": 9, "shuffle": 2}),
            DType::Float32,
            "compressor",
        )
        .unwrap();
        let b = normalise(
            &json!({"name": "blosc", "configuration": {"cname": "zstd", "clevel": 9, "shuffle": "bitshuffle", "typesize": 4}}),
            DType::Float32,
            "compressor",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.v3["configuration"]["typesize"], 4);
    }

    #[test]
    fn bad_levels_name_the_field() {
        let err = normalise(
            &json!({"id": "gzip", "level": 12}),
            DType::Int8,
            "compressor",
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert!(err.to_string().starts_with("compressor: level"));
    }

    #[test]
    fn unknown_codecs_are_unsupported() {
        let err = normalise(&json!({"id": "lzma"}), DType::Int8, "compressor").unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_UNSUPPORTED");
    }
}
