//! Bringing a dataset back to its last commit when a writer died in the middle of
//! one. Locally the commit point of a save that touches consolidated metadata is
//! the consolidated copy, which lands last: the arrays go back to what it says.
//! On an object store a group save records its commit before making it, and
//! whoever takes over a lease of the writer that is gone finishes it.

use crate::consolidated::{self, NodeDocs};
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Existing, Node};
use crate::store::Transaction;

/// A writer crashed here mid-commit: bring the array's own metadata back to what the
/// consolidated copies above it say (where a commit lands last), so that readers of
/// either see one state, and every array of an interrupted group save the same one.
pub(crate) fn restore(
    txn: &mut Transaction<'_>,
    node: &str,
    existing: Existing,
) -> Result<Existing> {
    let format = existing.zarr_format();
    let copies = consolidated::groups_with_copies(txn.container(), node, format)?;
    txn.lock_groups(&copies)?;
    let Some(meta) = consolidated::committed_version(
        txn.container(),
        &copies,
        node,
        &existing.key,
        &existing.meta,
        format,
    )?
    else {
        return Ok(existing);
    };
    txn.container().put_json(&existing.key, &meta)?;
    match hierarchy::read_node(txn.container(), node)? {
        Node::Array(restored) => Ok(restored),
        _ => Err(SaveError::Corrupt(format!(
            "dataset '{node}' is no array once restored from its consolidated metadata"
        ))),
    }
}

/// Finish the commits that writers whose object-store leases `txn` took over left
/// recorded: their documents first, then the consolidated copies above their
/// arrays, rewritten from what each array now is. Nothing to do without a takeover.
pub(crate) fn finish_interrupted(txn: &mut Transaction<'_>) -> Result<()> {
    for commit in txn.interrupted() {
        let format = commit.zarr_format;
        txn.finish(&commit, |c| {
            let Some(first) = commit.nodes.first() else {
                return Ok(Vec::new());
            };
            let mut updates = Vec::new();
            for node in &commit.nodes {
                if let Node::Array(e) = hierarchy::read_node(c, node)? {
                    updates.push(NodeDocs {
                        node: node.clone(),
                        docs: vec![(e.key.clone(), e.meta.clone())],
                        new: false,
                    });
                }
            }
            let copies = consolidated::groups_with_copies(c, first, format)?;
            consolidated::docs_many(c, &copies, format, &updates)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use crate::data::f64s;
    use crate::metadata::CreateOptions;
    use crate::plan::Approach;
    use crate::request::{Destination, GroupArray, GroupRequest};
    use crate::store::TEMP_PREFIX;

    fn append(root: &std::path::Path, values: &[f64]) -> Vec<u64> {
        let req = GroupRequest {
            destination: Destination::new(root.display().to_string()),
            group: "ds".into(),
            approach: Approach::Append,
            axis: 0,
            selection: None,
            zarr_format: None,
        };
        let arrays = ["a", "b"]
            .map(|name| GroupArray {
                name: name.into(),
                data: f64s(values, vec![values.len() as u64]),
                dtype: None,
                create: CreateOptions::default(),
            })
            .to_vec();
        let out = crate::save_group(&req, arrays, Arc::default()).unwrap();
        out[0].1.shape.clone()
    }

    fn read(path: &std::path::Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// A group commit lands the arrays' own metadata, then the consolidated copy (the
    /// commit point). A writer that died between the two left one array longer than
    /// the copy says, and its temp files: the next writer of the group brings the
    /// array back to the copy before it appends.
    #[test]
    fn a_crash_between_an_array_and_its_consolidated_copy_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(append(root, &[1.0, 2.0]), vec![2]);
        let own = root.join("ds/a/zarr.json");
        let mut grown = read(&own);
        grown["shape"] = json!([3]);
        std::fs::write(&own, grown.to_string()).unwrap();
        // The dead writer's sign: a temp file of a pid that cannot run.
        let debris = root.join(format!("ds/a/{TEMP_PREFIX}zarr.json.99999999-00000000.1"));
        std::fs::write(&debris, b"{}").unwrap();
        assert_eq!(append(root, &[3.0]), vec![3]);
        assert!(!debris.exists());
        assert_eq!(read(&own)["shape"], json!([3]));
        let listed = &read(&root.join("zarr.json"))["consolidated_metadata"]["metadata"];
        assert_eq!(listed["ds/a"]["shape"], json!([3]));
        assert_eq!(listed["ds/b"]["shape"], json!([3]));
    }
}
