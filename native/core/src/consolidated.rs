//! Consolidated metadata kept true. A group's consolidated copy (v3: the
//! `consolidated_metadata` block of its `zarr.json`; v2: its `.zmetadata`) lists the
//! metadata of the nodes below it, and readers that find one (xarray, zarr-python)
//! read shapes from it instead of the nodes' own files. A save that changes a node's
//! metadata therefore rewrites every copy above it that lists the node (a new node:
//! every copy above it), in the same commit; every other entry is kept as it was.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::store::{Container, Version};

/// The documents a save writes for one node, by store key from the container's root
/// (`a/b/zarr.json`, `a/b/.zarray`, `a/b/.zattrs`), and the node they belong to.
#[derive(Debug, Clone)]
pub struct NodeDocs {
    /// The node's path (`a/b`), whose old entries a replacement drops.
    pub node: String,
    /// Every document of the node and of the new groups above it.
    pub docs: Vec<(String, Value)>,
    /// A new node (or a replaced one): copies above it that do not list it yet get it.
    pub new: bool,
}

/// One consolidated copy, as read.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Its store key (`g/zarr.json` or `g/.zmetadata`).
    pub key: String,
    /// The group holding it (`""` for the root).
    pub group: String,
    pub doc: Value,
    pub version: Version,
    zarr_format: u32,
}

fn prefix(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!("{group}/")
    }
}

/// The groups above `node`, root first.
pub fn groups_above(node: &str) -> Vec<String> {
    let segments: Vec<&str> = node.split('/').collect();
    (0..segments.len())
        .map(|depth| segments[..depth].join("/"))
        .collect()
}

/// The key of the document that holds `group`'s consolidated copy in `zarr_format`.
pub fn copy_key(group: &str, zarr_format: u32) -> String {
    if zarr_format == 2 {
        format!("{}.zmetadata", prefix(group))
    } else {
        format!("{}zarr.json", prefix(group))
    }
}

/// Whether the group at `group` holds a consolidated copy, in `zarr_format`. Only reads.
pub fn read_copy(container: &Container, group: &str, zarr_format: u32) -> Result<Option<Copy>> {
    let key = copy_key(group, zarr_format);
    let Some((doc, version)) = container.get_json_versioned(&key)? else {
        return Ok(None);
    };
    let listed = if zarr_format == 2 {
        doc.get("metadata").is_some_and(Value::is_object)
    } else {
        doc.get("node_type").and_then(Value::as_str) == Some("group")
            && doc
                .pointer("/consolidated_metadata/metadata")
                .is_some_and(Value::is_object)
    };
    Ok(listed.then(|| Copy {
        key,
        group: group.to_string(),
        doc,
        version,
        zarr_format,
    }))
}

/// The groups above `node` that hold a consolidated copy in `zarr_format`, deepest
/// first (the order their locks are taken in). Only reads, and takes no lock: the
/// caller locks them, then [`docs`] reads them again.
pub fn groups_with_copies(
    container: &Container,
    node: &str,
    zarr_format: u32,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for group in groups_above(node).into_iter().rev() {
        if read_copy(container, &group, zarr_format)?.is_some() {
            out.push(group);
        }
    }
    Ok(out)
}

/// The consolidated copies in `groups` with `update` applied, each with the version
/// it was read at.
pub fn docs(
    container: &Container,
    groups: &[String],
    zarr_format: u32,
    update: &NodeDocs,
) -> Result<Vec<(String, Value, Version)>> {
    let mut out = Vec::new();
    for group in groups {
        if let Some(copy) = read_copy(container, group, zarr_format)? {
            let (key, version) = (copy.key.clone(), copy.version.clone());
            if let Some(doc) = copy.updated(update) {
                out.push((key, doc, version));
            }
        }
    }
    Ok(out)
}

/// [`docs`] with several updates applied to each copy.
pub fn docs_many(
    container: &Container,
    groups: &[String],
    zarr_format: u32,
    updates: &[NodeDocs],
) -> Result<Vec<(String, Value, Version)>> {
    let mut out = Vec::new();
    for group in groups {
        if let Some(mut copy) = read_copy(container, group, zarr_format)? {
            let mut changed = false;
            for update in updates {
                if let Some(doc) = copy.clone().updated(update) {
                    copy.doc = doc;
                    changed = true;
                }
            }
            if changed {
                out.push((copy.key.clone(), copy.doc, copy.version));
            }
        }
    }
    Ok(out)
}

/// A new consolidated copy at the root listing every node in the container, for a
/// save that asked for one (`consolidated: true`) where there is none.
/// `pending` are documents the same commit writes (keys from the root): listed too.
pub fn new_root_copy(
    container: &Container,
    zarr_format: u32,
    pending: &[(String, Value)],
) -> Result<(String, Value, Version)> {
    let names: &[&str] = if zarr_format == 2 {
        &[".zarray", ".zattrs", ".zgroup"]
    } else {
        &["zarr.json"]
    };
    let mut keys = container.list_keys(|name| names.contains(&name))?;
    keys.extend(pending.iter().map(|(k, _)| k.clone()));
    keys.sort();
    keys.dedup();
    let mut entries = Map::new();
    let mut root_doc = None;
    for key in keys {
        let pending_doc = pending
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.clone());
        let Some(doc) = pending_doc.map_or_else(|| container.get_json(&key), |d| Ok(Some(d)))?
        else {
            continue;
        };
        if zarr_format == 2 {
            entries.insert(key, doc);
        } else if let Some(node) = key.strip_suffix("/zarr.json") {
            entries.insert(node.to_string(), doc);
        } else if key == "zarr.json" {
            root_doc = Some(doc);
        }
    }
    if zarr_format == 2 {
        let doc = serde_json::json!({"metadata": entries, "zarr_consolidated_format": 1});
        let version = container
            .get_json_versioned(".zmetadata")?
            .map_or(Version::Local, |(_, v)| v);
        return Ok((".zmetadata".into(), doc, version));
    }
    let version = container
        .get_json_versioned("zarr.json")?
        .map_or(Version::Local, |(_, v)| v);
    let mut doc = root_doc.unwrap_or_else(
        || serde_json::json!({"zarr_format": 3, "node_type": "group", "attributes": {}}),
    );
    doc["consolidated_metadata"] = serde_json::json!({
        "kind": "inline",
        "must_understand": false,
        "metadata": entries,
    });
    Ok(("zarr.json".into(), doc, version))
}

/// After a writer crashed: a commit rewrites the consolidated copies last, so what
/// the deepest copy listing `node` says is what committed. `node`'s own metadata
/// document (`own`, at `key`) as that copy lists it, if the two differ.
pub fn committed_version(
    container: &Container,
    groups: &[String],
    node: &str,
    key: &str,
    own: &Value,
    zarr_format: u32,
) -> Result<Option<Value>> {
    for group in groups {
        let Some(mut copy) = read_copy(container, group, zarr_format)? else {
            continue;
        };
        let Some(entry) = copy.entry_key(key) else {
            continue;
        };
        let entry = if zarr_format == 2 {
            entry
        } else {
            copy.relative(node).unwrap_or(node).to_string()
        };
        if let Some(listed) = copy.entries().get(&entry) {
            return Ok((listed != own).then(|| listed.clone()));
        }
    }
    Ok(None)
}

impl Copy {
    fn entries(&mut self) -> &mut Map<String, Value> {
        let pointer = if self.zarr_format == 2 {
            "/metadata"
        } else {
            "/consolidated_metadata/metadata"
        };
        self.doc
            .pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .expect("a copy has an entries object (checked when read)")
    }

    /// `path` (from the container's root) relative to this copy's group.
    fn relative<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.group.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(&self.group)?.strip_prefix('/')
        }
    }

    /// The entry key of a node document: v3 lists nodes by path, v2 lists documents.
    fn entry_key(&self, doc_key: &str) -> Option<String> {
        let rel = self.relative(doc_key)?;
        if self.zarr_format == 2 {
            return Some(rel.to_string());
        }
        // v3: `b/c/zarr.json` is the entry `b/c`; the group's own document is not listed.
        rel.strip_suffix("/zarr.json").map(str::to_string)
    }

    /// Whether this copy lists `node`.
    pub fn lists(&mut self, node: &str) -> bool {
        let Some(rel) = self.relative(node).map(str::to_string) else {
            return false;
        };
        let v2 = self.zarr_format == 2;
        self.entries().keys().any(|k| {
            if v2 {
                k.starts_with(&format!("{rel}/.z"))
            } else {
                k == &rel
            }
        })
    }

    /// This copy with `update` applied; `None` when it does not concern this copy.
    pub fn updated(mut self, update: &NodeDocs) -> Option<Value> {
        if !update.new && !self.lists(&update.node) {
            return None;
        }
        let rel = self.relative(&update.node)?.to_string();
        let keys: Vec<(String, Value)> = update
            .docs
            .iter()
            .filter_map(|(k, d)| Some((self.entry_key(k)?, d.clone())))
            .collect();
        let entries = self.entries();
        if update.new {
            // A replaced node's old entries go, its subtree's too.
            entries.retain(|k, _| k != &rel && !k.starts_with(&format!("{rel}/")));
        }
        for (k, d) in keys {
            entries.insert(k, d);
        }
        Some(self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copy(group: &str, doc: Value, zarr_format: u32) -> Copy {
        Copy {
            key: String::new(),
            group: group.into(),
            doc,
            version: Version::Local,
            zarr_format,
        }
    }

    #[test]
    fn v3_append_rewrites_the_listed_entry_and_keeps_the_others() {
        let doc = json!({"zarr_format": 3, "node_type": "group", "attributes": {"a": 1},
            "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": {
                "temp": {"shape": [4, 3]}, "time": {"shape": [4], "attributes": {"units": "days"}}}}});
        let update = NodeDocs {
            node: "g/temp".into(),
            docs: vec![("g/temp/zarr.json".into(), json!({"shape": [6, 3]}))],
            new: false,
        };
        let out = copy("g", doc.clone(), 3).updated(&update).unwrap();
        assert_eq!(
            out["consolidated_metadata"]["metadata"]["temp"],
            json!({"shape": [6, 3]})
        );
        assert_eq!(
            out["consolidated_metadata"]["metadata"]["time"],
            doc["consolidated_metadata"]["metadata"]["time"]
        );
        assert_eq!(out["attributes"], json!({"a": 1}));
        // Not listed, not new: not this copy's business.
        let other = NodeDocs {
            node: "g/other".into(),
            ..update
        };
        assert!(copy("g", doc, 3).updated(&other).is_none());
    }

    #[test]
    fn v2_new_node_replaces_its_subtree_entries() {
        let doc = json!({"zarr_consolidated_format": 1, "metadata": {
            ".zgroup": {"zarr_format": 2}, "x/.zarray": {"shape": [1]}, "x/.zattrs": {"old": true},
            "y/.zarray": {"shape": [2]}}});
        let update = NodeDocs {
            node: "x".into(),
            docs: vec![("x/.zarray".into(), json!({"shape": [5]}))],
            new: true,
        };
        let out = copy("", doc, 2).updated(&update).unwrap();
        let m = out["metadata"].as_object().unwrap();
        assert_eq!(m["x/.zarray"], json!({"shape": [5]}));
        assert!(!m.contains_key("x/.zattrs"));
        assert_eq!(m["y/.zarray"], json!({"shape": [2]}));
        assert_eq!(m[".zgroup"], json!({"zarr_format": 2}));
    }

    #[test]
    fn groups_above_a_node_start_at_the_root() {
        assert_eq!(groups_above("a/b/c"), vec!["", "a", "a/b"]);
        assert_eq!(groups_above("c"), vec![""]);
    }
}
