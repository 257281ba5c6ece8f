//! The record of a commit of several documents (a group save), written before the
//! commit by stores that need one to finish a crashed commit (object stores): who
//! made it, the arrays it was for, and each document with the version its writer
//! read it at.

use serde_json::{json, Value};

use super::{object, Doc, Version};
use crate::error::{Result, SaveError};

/// The record's JSON.
pub(crate) fn to_json(owner: &str, docs: &[Doc], nodes: &[String], zarr_format: u32) -> Value {
    let docs: Vec<Value> = docs
        .iter()
        .map(|(path, value, version)| {
            let version = match version {
                Version::Object(v) => v.to_json(),
                _ => Value::Null,
            };
            json!({"key": path, "value": value, "version": version})
        })
        .collect();
    json!({
        "owner": owner,
        "zarr_format": zarr_format,
        "nodes": nodes,
        "docs": docs,
    })
}

/// A recorded commit that a writer now gone may not have finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupted {
    /// Where the record is.
    pub(crate) key: String,
    /// Each document with the version its writer read it at.
    pub(crate) docs: Vec<Doc>,
    /// The arrays the commit was for.
    pub nodes: Vec<String>,
    pub zarr_format: u32,
}

impl Interrupted {
    /// Read the record at `key`.
    pub(crate) fn parse(key: &str, record: &Value) -> Result<Self> {
        let corrupt = || SaveError::Corrupt(format!("the commit record {key} is unreadable"));
        let docs = record["docs"]
            .as_array()
            .ok_or_else(corrupt)?
            .iter()
            .map(|d| {
                let path = d["key"].as_str().ok_or_else(corrupt)?;
                Ok((
                    path.to_string(),
                    d["value"].clone(),
                    Version::Object(object::Version::from_json(&d["version"])),
                ))
            })
            .collect::<Result<Vec<Doc>>>()?;
        let nodes = record["nodes"]
            .as_array()
            .ok_or_else(corrupt)?
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(corrupt))
            .collect::<Result<Vec<_>>>()?;
        let zarr_format = record["zarr_format"]
            .as_u64()
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(corrupt)?;
        Ok(Self {
            key: key.to_string(),
            docs,
            nodes,
            zarr_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_a_damaged_one_is_corrupt() {
        let docs: Vec<Doc> = vec![(
            "g/a/zarr.json".into(),
            json!({"shape": [4]}),
            Version::Object(object::Version::from_json(&json!({"e_tag": "x"}))),
        )];
        let nodes = vec!["g/a".to_string()];
        let written = to_json("me", &docs, &nodes, 3);
        let read = Interrupted::parse("g/.rec", &written).unwrap();
        assert_eq!(read.docs, docs);
        assert_eq!((read.nodes, read.zarr_format), (nodes, 3));
        for broken in [
            json!({}),
            json!({"docs": [{"value": 1}], "nodes": [], "zarr_format": 3}),
        ] {
            assert_eq!(
                Interrupted::parse("k", &broken).unwrap_err().code(),
                "ERR_ZARR_CORRUPT"
            );
        }
    }
}
