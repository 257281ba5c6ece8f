//! The dtypes zarr-saver writes, with their Zarr v3 names and v2 typestrs.

use crate::error::{Result, SaveError};

/// A stored or incoming element type. Fixed-size types are little-endian in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    String,
}

pub const ALL: [DType; 12] = [
    DType::Bool,
    DType::Int8,
    DType::Int16,
    DType::Int32,
    DType::Int64,
    DType::UInt8,
    DType::UInt16,
    DType::UInt32,
    DType::UInt64,
    DType::Float32,
    DType::Float64,
    DType::String,
];

impl DType {
    /// The Zarr v3 `data_type` name, also the name used across the JS API.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::String => "string",
        }
    }

    /// The numpy typestr written in a v2 `.zarray`.
    pub fn v2_typestr(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::Int8 => "|i1",
            DType::Int16 => "<i2",
            DType::Int32 => "<i4",
            DType::Int64 => "<i8",
            DType::UInt8 => "|u1",
            DType::UInt16 => "<u2",
            DType::UInt32 => "<u4",
            DType::UInt64 => "<u8",
            DType::Float32 => "<f4",
            DType::Float64 => "<f8",
            DType::String => "|O",
        }
    }

    /// Bytes per element, `None` for variable-length strings.
    pub fn size(self) -> Option<usize> {
        match self {
            DType::Bool | DType::Int8 | DType::UInt8 => Some(1),
            DType::Int16 | DType::UInt16 => Some(2),
            DType::Int32 | DType::UInt32 | DType::Float32 => Some(4),
            DType::Int64 | DType::UInt64 | DType::Float64 => Some(8),
            DType::String => None,
        }
    }

    /// Parse a JS-facing name (`"float64"`); `field` names the option in the error.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        ALL.iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ALL.iter().map(|d| d.name()).collect();
                SaveError::InvalidArgument(format!(
                    "{field} must be one of {}; got '{name}'",
                    names.join(", ")
                ))
            })
    }

    /// Read the dtype out of stored metadata (v3 `data_type` or v2 `dtype`).
    pub fn from_metadata(meta: &serde_json::Value, dataset: &str) -> Result<Self> {
        let unsupported = |what: &serde_json::Value| {
            SaveError::Unsupported(format!(
                "dataset '{dataset}' has data type {what}, which zarr-saver cannot write"
            ))
        };
        if let Some(v3) = meta.get("data_type") {
            let name = v3
                .as_str()
                .or_else(|| v3.get("name").and_then(|n| n.as_str()))
                .unwrap_or("");
            // zarr-python 3 may spell strings as the `variable_length_utf8` extension name.
            let name = if name == "variable_length_utf8" {
                "string"
            } else {
                name
            };
            return ALL
                .iter()
                .copied()
                .find(|d| d.name() == name)
                .ok_or_else(|| unsupported(v3));
        }
        let v2 = meta.get("dtype").ok_or_else(|| {
            SaveError::Corrupt(format!("metadata of dataset '{dataset}' has no dtype"))
        })?;
        let typestr = v2.as_str().ok_or_else(|| unsupported(v2))?;
        // Byte order is the codec's business; in memory zarrs hands us native order.
        let body = typestr.trim_start_matches(['<', '>', '|', '=']);
        let dtype = match body {
            "b1" => DType::Bool,
            "i1" => DType::Int8,
            "i2" => DType::Int16,
            "i4" => DType::Int32,
            "i8" => DType::Int64,
            "u1" => DType::UInt8,
            "u2" => DType::UInt16,
            "u4" => DType::UInt32,
            "u8" => DType::UInt64,
            "f4" => DType::Float32,
            "f8" => DType::Float64,
            "O" => DType::String,
            _ => return Err(unsupported(v2)),
        };
        Ok(dtype)
    }

    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::UInt8
                | DType::UInt16
                | DType::UInt32
                | DType::UInt64
        )
    }
}
