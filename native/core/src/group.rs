//! Several arrays of one group in one save, all or nothing: the way to append a time
//! step to every variable of an xarray dataset and to its time coordinate at once.
//!
//! The group's own rules live here: array names, and dimension names derived so that
//! xarray opens the group. Everything else is the executor's, as for a single save:
//! every array is planned before anything is written; a new group appears whole;
//! appends stage every array's chunks, then publish every array's metadata and,
//! last, the consolidated copy, the commit point (recorded first on an object store,
//! so that the next writer finishes a commit its writer died in; see `recovery`).

use std::sync::Arc;

use crate::commit::{self, Job, Target};
use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::plan::{ArrayInput, Rules};
use crate::request::{check_icechunk, validate_node_name, GroupArray, GroupRequest, SaveOutcome};

fn validate(req: &GroupRequest, arrays: &[GroupArray<'_>]) -> Result<()> {
    if !req.group.is_empty() {
        validate_node_name("group", &req.group)?;
    }
    if arrays.is_empty() {
        return Err(SaveError::InvalidData(
            "a group save needs at least one array".into(),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for a in arrays {
        validate_node_name("array name", &a.name)?;
        if a.name.contains('/') {
            return Err(SaveError::InvalidArgument(format!(
                "array name {:?} must be one path segment: the arrays of a group save sit in the group",
                a.name
            )));
        }
        if names.contains(&a.name.as_str()) {
            return Err(SaveError::InvalidArgument(format!(
                "array name {:?} is given twice",
                a.name
            )));
        }
        names.push(&a.name);
    }
    if let Some(f) = req.zarr_format.filter(|f| *f != 2 && *f != 3) {
        return Err(SaveError::InvalidArgument(format!(
            "zarrFormat must be 2 or 3; got {f}"
        )));
    }
    if req.destination.store.icechunk.is_some() {
        check_icechunk(req.zarr_format, false)?;
    }
    Ok(())
}

/// Dimension names for arrays that give none, so that xarray opens the group: the
/// append axis gets one name shared by every array (a name some array gives it, or
/// the name of the only one-dimensional array, its coordinate, or `dim_0`), and every
/// other axis a name of its own (`<array>_dim_<axis>`).
fn derive_dimension_names(arrays: &mut [GroupArray<'_>], axis: usize) {
    let given = arrays.iter().find_map(|a| {
        a.create
            .dimension_names
            .as_ref()
            .and_then(|n| n.get(axis).cloned().flatten())
    });
    let one_dimensional: Vec<&str> = arrays
        .iter()
        .filter(|a| a.data.shape.len() == 1)
        .map(|a| a.name.as_str())
        .collect();
    let shared = given.unwrap_or_else(|| match one_dimensional.as_slice() {
        [only] if axis == 0 => only.to_string(),
        _ => format!("dim_{axis}"),
    });
    for a in arrays.iter_mut() {
        if a.create.dimension_names.is_none() {
            let names = (0..a.data.shape.len())
                .map(|d| {
                    Some(if d == axis {
                        shared.clone()
                    } else {
                        format!("{}_dim_{d}", a.name)
                    })
                })
                .collect();
            a.create.dimension_names = Some(names);
        }
    }
}

/// Save every array of `arrays` into `req.group`, in one commit.
pub fn save_group(
    req: &GroupRequest,
    mut arrays: Vec<GroupArray<'_>>,
    control: Arc<Control>,
) -> Result<Vec<(String, SaveOutcome)>> {
    validate(req, &arrays)?;
    derive_dimension_names(&mut arrays, req.axis);
    let names: Vec<String> = arrays.iter().map(|a| a.name.clone()).collect();
    let inputs = arrays
        .into_iter()
        .map(|a| {
            let mut create = a.create;
            create.zarr_format = req.zarr_format;
            ArrayInput {
                node: if req.group.is_empty() {
                    a.name.clone()
                } else {
                    format!("{}/{}", req.group, a.name)
                },
                label: format!("array '{}'", a.name),
                data: Some(a.data),
                dtype: a.dtype,
                create,
            }
        })
        .collect();
    let rules = Rules::save(req.approach, req.axis, req.selection.as_deref());
    let job = Job::new(&req.destination, Target::Group(&req.group), rules, inputs);
    let outcomes = commit::run(&job, &control, &|_, _| Ok(()))?;
    Ok(names.into_iter().zip(outcomes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{f64s, NdData};
    use crate::metadata::CreateOptions;
    use crate::plan::Approach;
    use crate::request::Destination;
    use serde_json::{json, Value};

    fn array(name: &str, data: NdData<'static>) -> GroupArray<'static> {
        GroupArray {
            name: name.into(),
            data,
            dtype: None,
            create: CreateOptions::default(),
        }
    }

    fn request(root: &std::path::Path, approach: Approach) -> GroupRequest {
        let mut destination = Destination::new(root.display().to_string());
        destination.threads = Some(1);
        GroupRequest {
            destination,
            group: "ds".into(),
            approach,
            axis: 0,
            selection: None,
            zarr_format: None,
        }
    }

    /// Append rows to the arrays "temp" (two columns) and "time" of the group "ds"
    /// under `root`, creating them if need be.
    fn append(
        root: &std::path::Path,
        temp: &[f64],
        time: &[f64],
    ) -> Result<Vec<(String, SaveOutcome)>> {
        let arrays = vec![
            array("temp", f64s(temp, vec![temp.len() as u64 / 2, 2])),
            array("time", f64s(time, vec![time.len() as u64])),
        ];
        save_group(&request(root, Approach::Append), arrays, Arc::default())
    }

    /// The root's `zarr.json`.
    fn root_doc(root: &std::path::Path) -> Value {
        serde_json::from_slice(&std::fs::read(root.join("zarr.json")).unwrap()).unwrap()
    }

    #[test]
    fn a_group_is_created_consolidated_then_appended_together() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &[1.0, 2.0, 3.0, 4.0], &[0.0, 1.0]).unwrap();
        // Consolidated as xarray writes it: at the root, listing the group's nodes.
        let root = root_doc(dir.path());
        let listed = &root["consolidated_metadata"]["metadata"];
        assert_eq!(
            listed["ds/temp"]["dimension_names"],
            json!(["time", "temp_dim_1"])
        );
        assert_eq!(listed["ds/time"]["dimension_names"], json!(["time"]));
        assert_eq!(listed["ds"]["node_type"], json!("group"));
        let out = append(dir.path(), &[5.0, 6.0], &[2.0]).unwrap();
        assert_eq!(out[0].1.shape, vec![3, 2]);
        let root = root_doc(dir.path());
        assert_eq!(
            root["consolidated_metadata"]["metadata"]["ds/time"]["shape"],
            json!([3])
        );
        // Unequal rows are refused, and nothing changes.
        let err = append(dir.path(), &[5.0, 6.0, 7.0, 8.0], &[3.0]).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_SHAPE_MISMATCH");
        assert_eq!(root_doc(dir.path()), root);
    }
}
