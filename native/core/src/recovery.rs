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
    for commit in txn.interrupted()? {
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
