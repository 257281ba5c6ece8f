//! Writing an orthogonal selection with index lists: the positions grouped by
//! chunk, so each touched chunk is read, patched and written once.

use std::collections::BTreeMap;

use zarrs::array::{ArrayBytes, CodecOptions};

use super::{read_chunk, ChunkWriter};
use crate::blosc::{self, ShuffledBlosc};
use crate::bounds;
use crate::data::{Elements, NdData};
use crate::error::{Result, SaveError};
use crate::selection::Resolved;

/// For one axis: which selection entries (k, offset in chunk) fall in each chunk.
type AxisPlan = BTreeMap<u64, Vec<(usize, usize)>>;

fn plan_axis(resolved: &Resolved, axis: usize, chunk: u64) -> AxisPlan {
    let positions = &resolved.axes[axis];
    let mut plan = AxisPlan::new();
    for k in 0..positions.len() as usize {
        let p = positions.get(k);
        plan.entry(p / chunk)
            .or_default()
            .push((k, (p % chunk) as usize));
    }
    plan
}

/// Call `copy(src, dst, len)` for every run of consecutive elements that the
/// selection maps from the data (strides `src_strides`) into a chunk (`dst_strides`).
fn for_each_run(
    entries: &[&[(usize, usize)]],
    src_strides: &[usize],
    dst_strides: &[usize],
    copy: &mut dyn FnMut(usize, usize, usize),
) {
    fn go(
        axis: usize,
        src: usize,
        dst: usize,
        entries: &[&[(usize, usize)]],
        ss: &[usize],
        ds: &[usize],
        copy: &mut dyn FnMut(usize, usize, usize),
    ) {
        let last = axis + 1 == entries.len();
        if !last {
            for &(k, off) in entries[axis] {
                go(
                    axis + 1,
                    src + k * ss[axis],
                    dst + off * ds[axis],
                    entries,
                    ss,
                    ds,
                    copy,
                );
            }
            return;
        }
        // Innermost axis: merge entries that are consecutive on both sides.
        let list = entries[axis];
        let mut i = 0;
        while i < list.len() {
            let (k0, o0) = list[i];
            let mut n = 1;
            while i + n < list.len() && list[i + n] == (k0 + n, o0 + n) {
                n += 1;
            }
            copy(src + k0 * ss[axis], dst + o0 * ds[axis], n);
            i += n;
        }
    }
    go(0, 0, 0, entries, src_strides, dst_strides, copy);
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Write `data`, shaped like the selection, into an orthogonal selection.
pub(super) fn write_selection(
    writer: &ChunkWriter<'_>,
    chunk_shape: &[u64],
    resolved: &Resolved,
    data: &NdData<'_>,
) -> Result<()> {
    let array = writer.array;
    let ndim = chunk_shape.len();
    let plans: Vec<AxisPlan> = (0..ndim)
        .map(|d| plan_axis(resolved, d, chunk_shape[d]))
        .collect();
    let src_shape: Vec<usize> = resolved.full_shape().iter().map(|&n| n as usize).collect();
    let src_strides = strides(&src_shape);
    // Sized before anything is allocated (the metadata checks keep it in bounds).
    let n = bounds::allocation(chunk_shape, 1, array.path().as_str())?;
    let chunk_usize: Vec<usize> = chunk_shape.iter().map(|&c| c as usize).collect();
    let dst_strides = strides(&chunk_usize);
    let array_shape = array.shape().to_vec();
    let fast = ShuffledBlosc::for_array(array);

    // Every chunk touched: the cartesian product of the per-axis chunk keys.
    let mut chunks: Vec<Vec<u64>> = vec![Vec::new()];
    for plan in &plans {
        chunks = chunks
            .into_iter()
            .flat_map(|prefix| {
                plan.keys()
                    .map(move |&c| [prefix.clone(), vec![c]].concat())
            })
            .collect();
    }

    let write_chunk = |chunk: &[u64], options: &CodecOptions| -> Result<()> {
        let entries: Vec<&[(usize, usize)]> =
            (0..ndim).map(|d| plans[d][&chunk[d]].as_slice()).collect();
        // A chunk whose in-bounds part is wholly replaced needs no read.
        let covered = (0..ndim).all(|d| {
            let extent = chunk_shape[d].min(array_shape[d] - chunk[d] * chunk_shape[d]);
            entries[d].len() as u64 == extent
        });
        match &data.elements {
            Elements::Fixed { dtype, bytes } => {
                let es = dtype.size().unwrap_or(1);
                // Sized before the fill or the decode allocates it.
                let len = bounds::allocation(chunk_shape, es, array.path().as_str())?;
                let mut buf: Vec<u8> = if covered {
                    ArrayBytes::new_fill_value(array.data_type(), n as u64, array.fill_value())
                        .map_err(|e| SaveError::Corrupt(e.to_string()))?
                        .into_fixed()
                        .map_err(|e| SaveError::Corrupt(e.to_string()))?
                        .into_owned()
                } else {
                    read_chunk(array, chunk, len, options)?
                        .into_fixed()
                        .map_err(|e| SaveError::Corrupt(e.to_string()))?
                        .into_owned()
                };
                for_each_run(&entries, &src_strides, &dst_strides, &mut |s, d, len| {
                    buf[d * es..(d + len) * es].copy_from_slice(&bytes[s * es..(s + len) * es]);
                });
                blosc::store_chunk(
                    array,
                    fast.as_ref(),
                    chunk,
                    ArrayBytes::new_flen(buf),
                    options,
                )?;
            }
            Elements::Strings(strings) => {
                let mut buf: Vec<String> =
                    array.retrieve_chunk_opt::<Vec<String>>(chunk, options)?;
                for_each_run(&entries, &src_strides, &dst_strides, &mut |s, d, len| {
                    buf[d..d + len].clone_from_slice(&strings[s..s + len]);
                });
                array.store_chunk_opt(chunk, buf, options)?;
            }
        }
        Ok(())
    };
    writer.each(&chunks, chunks.len() > 1, write_chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_consecutive_elements() {
        let rows: &[(usize, usize)] = &[(0, 2), (1, 0)];
        let cols: &[(usize, usize)] = &[(0, 0), (1, 1), (2, 2)];
        let mut runs = Vec::new();
        for_each_run(&[rows, cols], &[3, 1], &[3, 1], &mut |s, d, n| {
            runs.push((s, d, n))
        });
        assert_eq!(runs, vec![(0, 6, 3), (3, 0, 3)]);
    }
}
