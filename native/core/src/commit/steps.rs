//! The executor's steps, one per kind of change, in the order the commit protocol
//! wants: a new array is built whole and published at once; appends and
//! reservations publish chunks, then (recorded first where the store needs it) the
//! metadata, then the consolidated copies; updates publish chunks only.

use zarrs::array::CodecOptions;

use super::{Job, Target};
use crate::consolidated::{self, NodeDocs};
use crate::control::Control;
use crate::error::Result;
use crate::hierarchy;
use crate::plan::{ArrayPlan, Change};
use crate::store::{self, Container, Doc, Transaction, Version};
use crate::tail_cache::TailCache;
use crate::write;

/// Appends touching up to this many chunks prepare their temp files ahead.
const PREPARED_CHUNKS: usize = 4;

/// What every step of a save's commit needs besides the plans.
pub(super) struct Writing<'w> {
    /// What the save does, in words.
    pub message: String,
    pub options: &'w CodecOptions,
    pub control: &'w Control,
}

/// The store key of `name` in the node at `node` (`""`: the container's root).
fn child(node: &str, name: &str) -> String {
    if node.is_empty() {
        name.to_string()
    } else {
        format!("{node}/{name}")
    }
}

/// New arrays, each written whole and published at once in place of whatever is at
/// its path. A node the transaction locked that does not exist yet appears whole,
/// every array inside and the groups it lacks with it.
pub(super) fn create(
    txn: &mut Transaction<'_>,
    job: &Job<'_, '_>,
    plans: &[ArrayPlan<'_>],
    format: u32,
    w: &Writing<'_>,
) -> Result<()> {
    let c = txn.container();
    let first = &plans[0].node;
    let groups = hierarchy::missing_groups(c, first, format)?;
    let copies = consolidated::groups_with_copies(c, first, format)?;
    let scope_node = match job.target {
        Target::Dataset(path) | Target::Group(path) => path,
    };
    // A group a group save creates is consolidated as xarray writes it: one copy at
    // the root, listing every node (xarray reads it there, for any group below).
    let new_group = matches!(job.target, Target::Group(_))
        && groups.iter().any(|(k, _)| {
            *k == child(scope_node, "zarr.json") || *k == child(scope_node, ".zgroup")
        });
    let asked = plans.iter().any(|p| p.consolidated_asked());
    let root_copy =
        (asked || new_group) && !copies.iter().any(String::is_empty) && !c.lists_nodes();
    let mut locked = copies.clone();
    if root_copy {
        locked.push(String::new());
    }
    txn.lock_groups(&locked)?;
    let new_docs = |p: &ArrayPlan<'_>| match &p.change {
        Change::Create { new, .. } => new.documents(&p.node, format),
        _ => Vec::new(),
    };
    let updates: Vec<NodeDocs> = plans
        .iter()
        .map(|p| NodeDocs {
            node: p.node.clone(),
            docs: new_docs(p),
            new: true,
        })
        .collect();
    // What this commit writes besides: listed in a new root copy as if already there.
    let pending: Vec<(String, serde_json::Value)> = groups
        .iter()
        .cloned()
        .chain(plans.iter().flat_map(new_docs))
        .collect();
    let fill =
        |staging: &Container, at: &str, p: &ArrayPlan<'_>| fill_array(staging, at, p, format, w);
    if txn.missing() {
        txn.stage_node(scope_node, &groups, |staging, at| {
            for p in plans {
                let rel = p.node.strip_prefix(scope_node).unwrap_or(&p.node);
                let rel = rel.trim_start_matches('/');
                let inside = if rel.is_empty() {
                    at.to_string()
                } else {
                    child(at, rel)
                };
                fill(staging, &inside, p)?;
            }
            Ok(())
        })?;
    } else {
        for (i, p) in plans.iter().enumerate() {
            // This save's sign in the array's directory before anything else.
            txn.announce(vec![store::key(&child(&p.node, "overwrite"))?]);
            let lacking = if i == 0 { &groups[..] } else { &[] };
            txn.stage_node(&p.node, lacking, |staging, at| fill(staging, at, p))?;
        }
    }
    txn.commit(&w.message, None, |c| {
        let mut docs = consolidated::docs_many(c, &copies, format, &updates)?;
        if root_copy {
            let copy = consolidated::new_root_copy(c, format, &pending)?;
            // The copy is the root's document, whole: it replaces a plain one.
            docs.retain(|(k, _, _)| *k != copy.0);
            docs.push(copy);
        }
        Ok(docs)
    })
}

/// One new array written into `staging` at `at`: its metadata declared where the
/// store checks chunks against it, its chunks, then its documents, the main one last.
fn fill_array(
    staging: &Container,
    at: &str,
    p: &ArrayPlan<'_>,
    format: u32,
    w: &Writing<'_>,
) -> Result<()> {
    let (Change::Create { new, .. }, Some(data)) = (&p.change, &p.data) else {
        return Ok(());
    };
    let main_key = child(at, if format == 2 { ".zarray" } else { "zarr.json" });
    let array = hierarchy::open_array(staging, at, &new.main)?;
    staging.declare(&main_key, &new.main)?;
    write::write_region(
        &array,
        &vec![0; data.shape.len()],
        data,
        w.options,
        w.control,
    )?;
    w.control.check()?;
    let mut docs = new.documents(at, format);
    docs.sort_by_key(|(k, _)| k.trim_start_matches('/') == main_key);
    for (key, doc) in docs {
        staging.put_json(&key, &doc)?;
    }
    Ok(())
}

/// Appends (rows after the last, data written) and reservations (rows only): each
/// array's chunks, then, recorded first where the store needs it, every array's new
/// metadata and the consolidated copies above them.
pub(super) fn grow(
    txn: &mut Transaction<'_>,
    plans: &[ArrayPlan<'_>],
    w: &Writing<'_>,
) -> Result<()> {
    // A reservation of no rows only describes the arrays.
    if plans.iter().all(|p| match &p.change {
        Change::Reserve { existing, .. } => existing.shape == p.shape,
        _ => false,
    }) {
        return Ok(());
    }
    let c = txn.container();
    let metas: Vec<(&str, &serde_json::Value, &Version)> = plans
        .iter()
        .filter_map(ArrayPlan::committed_metadata)
        .collect();
    let format = if metas[0].0.ends_with(".zarray") {
        2
    } else {
        3
    };
    let copies = consolidated::groups_with_copies(c, &plans[0].node, format)?;
    // Each array's metadata temp file first (its sign, should the save crash), then
    // those of the consolidated copies and of the chunks each append touches, made
    // while others encode.
    let mut keys = Vec::new();
    for (key, meta, _) in &metas {
        c.declare(key, meta)?;
        keys.push(store::key(key)?);
    }
    for group in &copies {
        keys.push(store::key(&consolidated::copy_key(group, format))?);
    }
    let mut writes = Vec::new();
    for p in plans {
        if let (
            Change::Append {
                existing,
                meta,
                start,
            },
            Some(data),
        ) = (&p.change, &p.data)
        {
            let array = hierarchy::open_array(c, &p.node, meta)?;
            keys.extend(
                write::chunk_keys(&array, start, &data.shape, PREPARED_CHUNKS).unwrap_or_default(),
            );
            writes.push((
                array,
                start,
                data,
                TailCache::for_append(c, meta, existing.dtype),
            ));
        }
    }
    txn.announce(keys);
    for (array, start, data, tail) in &writes {
        // The decoded tail chunk of the last append is reused.
        write::write_region_cached(array, start, data, w.options, w.control, tail.as_ref())?;
    }
    // The commit: until the metadata lands, readers see the old shapes.
    w.control.check()?;
    txn.lock_groups(&copies)?;
    let updates: Vec<NodeDocs> = plans
        .iter()
        .zip(&metas)
        .map(|(p, (key, meta, _))| NodeDocs {
            node: p.node.clone(),
            docs: vec![(key.to_string(), (*meta).clone())],
            new: false,
        })
        .collect();
    let all: Vec<Doc> = metas
        .iter()
        .map(|(k, m, v)| (k.to_string(), (*m).clone(), (*v).clone()))
        .collect();
    let nodes: Vec<String> = plans.iter().map(|p| p.node.clone()).collect();
    txn.record(&all, &nodes, format)?;
    let rest = &all[1..];
    txn.commit(&w.message, Some(metas[0]), |c| {
        let mut docs = rest.to_vec();
        docs.extend(consolidated::docs_many(c, &copies, format, &updates)?);
        Ok(docs)
    })?;
    writes
        .into_iter()
        .filter_map(|(_, _, _, tail)| tail)
        .for_each(TailCache::commit);
    Ok(())
}

/// Updates: each array's sign, its chunks, then a commit that changes no metadata
/// (and so no consolidated copy).
pub(super) fn update(
    txn: &mut Transaction<'_>,
    plans: &[ArrayPlan<'_>],
    w: &Writing<'_>,
) -> Result<()> {
    for p in plans {
        txn.announce(vec![store::key(&child(&p.node, "update"))?]);
    }
    let c = txn.container();
    for p in plans {
        if let (Change::Update { existing, resolved }, Some(data)) = (&p.change, &p.data) {
            let array = hierarchy::open_array(c, &p.node, &existing.meta)?;
            let chunk_shape = &existing.chunk_shape;
            write::write_resolved(&array, chunk_shape, resolved, data, w.options, w.control)?;
        }
    }
    w.control.check()?;
    txn.commit(&w.message, None, |_| Ok(Vec::new()))
}
