//! `update` selections: every index form the facade accepts, resolved against the array's
//! shape into explicit positions per axis, checked before anything is written.

use crate::error::{Result, SaveError};

/// One axis of a selection as the caller wrote it (numpy semantics).
#[derive(Debug, Clone, PartialEq)]
pub enum AxisSelection {
    /// The whole axis (`null` in `{ axes }`).
    All,
    /// One position; the axis is dropped from the selection's shape, as in numpy.
    Index(i64),
    /// Positions in any order; negatives count from the end; duplicates are refused.
    Indices(Vec<i64>),
    /// `slice(start, stop, step)` with Python's defaults and negative wrapping.
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    },
}

/// Positions along one axis, in the order the data supplies them.
#[derive(Debug, Clone, PartialEq)]
pub enum Positions {
    /// `start..stop`, step 1.
    Range(u64, u64),
    /// `len` positions from `start`, `step` apart (a slice with a step other than 1),
    /// never spelled out: a slice's length is only known from its bounds, and a
    /// list of every position of a long axis could exhaust memory.
    Step {
        start: u64,
        step: i64,
        len: u64,
    },
    List(Vec<u64>),
}

impl Positions {
    pub fn len(&self) -> u64 {
        match self {
            Positions::Range(a, b) => b - a,
            Positions::Step { len, .. } => *len,
            Positions::List(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, k: usize) -> u64 {
        match self {
            Positions::Range(a, _) => a + k as u64,
            Positions::Step { start, step, .. } => start.wrapping_add_signed(step * k as i64),
            Positions::List(v) => v[k],
        }
    }

    /// Smallest and one past the largest position.
    pub fn bounds(&self) -> (u64, u64) {
        match self {
            Positions::Range(a, b) => (*a, *b),
            Positions::Step { .. } => {
                let (first, last) = (self.get(0), self.get(self.len() as usize - 1));
                (first.min(last), first.max(last) + 1)
            }
            Positions::List(v) => (
                *v.iter().min().unwrap_or(&0),
                v.iter().max().map_or(0, |m| m + 1),
            ),
        }
    }
}

/// A selection resolved against a shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub axes: Vec<Positions>,
    /// Axes selected by a single integer, absent from the numpy shape.
    pub squeezed: Vec<bool>,
}

impl Resolved {
    /// Shape with single-integer axes kept as length 1.
    pub fn full_shape(&self) -> Vec<u64> {
        self.axes.iter().map(Positions::len).collect()
    }

    /// The numpy shape of the selection (single-integer axes dropped).
    pub fn numpy_shape(&self) -> Vec<u64> {
        self.axes
            .iter()
            .zip(&self.squeezed)
            .filter(|(_, s)| !**s)
            .map(|(p, _)| p.len())
            .collect()
    }

    /// True when every axis is a step-1 range: a plain rectangle.
    pub fn as_rectangle(&self) -> Option<(Vec<u64>, Vec<u64>)> {
        let mut start = Vec::new();
        let mut shape = Vec::new();
        for axis in &self.axes {
            match axis {
                Positions::Range(a, b) => {
                    start.push(*a);
                    shape.push(b - a);
                }
                Positions::List(v) if v.len() == 1 => {
                    start.push(v[0]);
                    shape.push(1);
                }
                Positions::List(_) | Positions::Step { .. } => return None,
            }
        }
        Some((start, shape))
    }
}

fn wrap(index: i64, len: u64, axis: usize) -> Result<u64> {
    let wrapped = if index < 0 { index + len as i64 } else { index };
    if wrapped < 0 || wrapped as u64 >= len {
        return Err(SaveError::OutOfBounds(format!(
            "indices: position {index} is outside axis {axis} of length {len}"
        )));
    }
    Ok(wrapped as u64)
}

fn resolve_slice(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    len: u64,
    axis: usize,
) -> Result<Positions> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(SaveError::InvalidArgument(format!(
            "indices: slice step on axis {axis} must not be 0"
        )));
    }
    let n = len as i64;
    // A bound may sit one past the end (stop = len); beyond that is out of range,
    // not silently clamped as Python would.
    let bound = |v: i64, what: &str| -> Result<i64> {
        let w = if v < 0 { v + n } else { v };
        if w < 0 || w > n {
            return Err(SaveError::OutOfBounds(format!(
                "indices: slice {what} {v} is outside axis {axis} of length {len}"
            )));
        }
        Ok(w)
    };
    // Only the first position and the count are computed: see `Positions::Step`.
    let (first, count) = if step > 0 {
        let a = start.map(|v| bound(v, "start")).transpose()?.unwrap_or(0);
        let b = stop.map(|v| bound(v, "stop")).transpose()?.unwrap_or(n);
        if step == 1 && a < b {
            return Ok(Positions::Range(a as u64, b as u64));
        }
        (a, if a < b { (b - a - 1) / step + 1 } else { 0 })
    } else {
        let a = start
            .map(|v| bound(v, "start"))
            .transpose()?
            .unwrap_or(n - 1)
            .min(n - 1);
        let b = stop.map(|v| bound(v, "stop")).transpose()?.unwrap_or(-1);
        (a, if a > b { (a - b - 1) / -step + 1 } else { 0 })
    };
    if count <= 0 {
        return Err(SaveError::InvalidArgument(format!(
            "indices: slice on axis {axis} selects nothing"
        )));
    }
    Ok(Positions::Step {
        start: first as u64,
        step,
        len: count as u64,
    })
}

/// Resolve `selection` (one entry per leading axis) against `shape`.
pub fn resolve(selection: &[AxisSelection], shape: &[u64]) -> Result<Resolved> {
    if selection.len() > shape.len() {
        return Err(SaveError::InvalidArgument(format!(
            "indices: {} axes given for an array of {} dimensions",
            selection.len(),
            shape.len()
        )));
    }
    let mut axes = Vec::with_capacity(shape.len());
    let mut squeezed = Vec::with_capacity(shape.len());
    for (axis, &len) in shape.iter().enumerate() {
        let sel = selection.get(axis).unwrap_or(&AxisSelection::All);
        let (positions, squeeze) = match sel {
            AxisSelection::All => (Positions::Range(0, len), false),
            AxisSelection::Index(i) => (Positions::List(vec![wrap(*i, len, axis)?]), true),
            AxisSelection::Indices(list) => {
                if list.is_empty() {
                    return Err(SaveError::InvalidArgument(format!(
                        "indices: the list for axis {axis} is empty"
                    )));
                }
                let positions = list
                    .iter()
                    .map(|&i| wrap(i, len, axis))
                    .collect::<Result<Vec<_>>>()?;
                let mut sorted = positions.clone();
                sorted.sort_unstable();
                if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                    return Err(SaveError::InvalidArgument(format!(
                        "indices: position {} appears more than once on axis {axis}; the result would be undefined",
                        w[0]
                    )));
                }
                (Positions::List(positions), false)
            }
            AxisSelection::Slice { start, stop, step } => {
                (resolve_slice(*start, *stop, *step, len, axis)?, false)
            }
        };
        axes.push(positions);
        squeezed.push(squeeze);
    }
    Ok(Resolved { axes, squeezed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_indices_wrap() {
        let r = resolve(&[AxisSelection::Indices(vec![-1, 0])], &[5]).unwrap();
        assert_eq!(r.axes[0], Positions::List(vec![4, 0]));
    }

    #[test]
    fn duplicates_after_wrapping_are_refused() {
        let err = resolve(&[AxisSelection::Indices(vec![4, -1])], &[5]).unwrap_err();
        assert!(err.to_string().contains("more than once"));
    }

    #[test]
    fn out_of_range_names_axis_and_length() {
        let err = resolve(&[AxisSelection::Index(5)], &[5, 2]).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_OUT_OF_BOUNDS");
        assert!(err.to_string().contains("axis 0 of length 5"));
    }

    #[test]
    fn a_stepped_slice_of_a_long_axis_is_never_spelled_out() {
        let step = AxisSelection::Slice {
            start: None,
            stop: None,
            step: Some(2),
        };
        // 2^61 positions: as a list, an allocation no machine holds.
        let r = resolve(&[step], &[1 << 62]).unwrap();
        assert_eq!(r.axes[0].len(), 1 << 61);
        assert_eq!(r.axes[0].bounds(), (0, (1 << 62) - 1));
        assert_eq!(r.numpy_shape(), vec![1 << 61]);
    }

    #[test]
    fn slices_follow_python() {
        let s = |a, b, c| {
            resolve(
                &[AxisSelection::Slice {
                    start: a,
                    stop: b,
                    step: c,
                }],
                &[6],
            )
            .unwrap()
            .axes[0]
                .clone()
        };
        assert_eq!(s(Some(1), Some(4), None), Positions::Range(1, 4));
        let listed = |p: Positions| (0..p.len() as usize).map(|k| p.get(k)).collect::<Vec<_>>();
        assert_eq!(listed(s(None, None, Some(2))), vec![0, 2, 4]);
        assert_eq!(listed(s(None, None, Some(-2))), vec![5, 3, 1]);
        assert_eq!(listed(s(Some(1), Some(6), Some(3))), vec![1, 4]);
        assert_eq!(listed(s(Some(4), Some(0), Some(-3))), vec![4, 1]);
        assert_eq!(s(None, None, Some(-2)).bounds(), (1, 6));
        assert_eq!(s(Some(-2), None, None), Positions::Range(4, 6));
    }

    #[test]
    fn integer_axes_are_squeezed() {
        let r = resolve(&[AxisSelection::Index(1), AxisSelection::All], &[3, 4]).unwrap();
        assert_eq!(r.numpy_shape(), vec![4]);
        assert_eq!(r.full_shape(), vec![1, 4]);
    }
}
