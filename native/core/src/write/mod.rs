//! The one write path: a rectangle goes through zarrs' subset writer (whole-chunk
//! fast path, chunks in parallel); an orthogonal selection with index lists is
//! grouped by chunk so each touched chunk is read, patched and written once.

use rayon::prelude::*;
use zarrs::array::{
    update_array_bytes, ArrayBytes, ArraySubset, ArrayToBytesCodecTraits, CodecOptions,
};
use zarrs::storage::StoreKey;

use crate::blosc::{self, ShuffledBlosc};
use crate::bounds;
use crate::control::Control;
use crate::data::{Elements, NdData};
use crate::error::{Result, SaveError};
use crate::hierarchy::ZArray;
use crate::selection::Resolved;
use crate::tail_cache::TailCache;

mod selection;
use selection::write_selection;

fn array_bytes<'a>(data: &'a NdData<'_>) -> Result<ArrayBytes<'a>> {
    Ok(match &data.elements {
        Elements::Fixed { bytes, .. } => ArrayBytes::new_flen(&bytes[..]),
        Elements::Strings(strings) => {
            let mut offsets = Vec::with_capacity(strings.len() + 1);
            let mut buf = Vec::with_capacity(strings.iter().map(String::len).sum());
            for s in strings {
                offsets.push(buf.len());
                buf.extend_from_slice(s.as_bytes());
            }
            offsets.push(buf.len());
            let offsets = zarrs::array::ArrayBytesOffsets::new(offsets)
                .map_err(|e| SaveError::InvalidData(format!("string offsets: {e}")))?;
            ArrayBytes::new_vlen(buf, offsets)
                .map_err(|e| SaveError::InvalidData(format!("string offsets: {e}")))?
        }
    })
}

/// Write `data` (C order) into the rectangle starting at `start`, chunk by chunk:
/// whole chunks are encoded straight from the input, partial ones are read,
/// patched and re-encoded. `control` is checked before each chunk and counts them.
pub fn write_region(
    array: &ZArray,
    start: &[u64],
    data: &NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<()> {
    write_region_cached(array, start, data, options, control, None)
}

/// [`write_region`] that reads partial chunks from `tails` when it can, and keeps
/// the ones it writes there (appends to local arrays of fixed-size, unsharded chunks).
pub fn write_region_cached(
    array: &ZArray,
    start: &[u64],
    data: &NdData<'_>,
    options: &CodecOptions,
    control: &Control,
    tails: Option<&TailCache>,
) -> Result<()> {
    let subset = ArraySubset::new_with_start_shape(start.to_vec(), data.shape.clone())
        .map_err(|e| SaveError::ShapeMismatch(e.to_string()))?;
    let chunks = array
        .chunks_in_array_subset(&subset)
        .map_err(|e| SaveError::ShapeMismatch(e.to_string()))?
        .ok_or_else(|| {
            SaveError::ShapeMismatch(format!("region {subset} lies outside the array"))
        })?;
    let chunk_list: Vec<Vec<u64>> = chunks.indices().into_iter().map(|c| c.to_vec()).collect();
    let bytes = array_bytes(data)?;
    let shape = subset.shape();
    let fast = ShuffledBlosc::for_array(array);
    let write_chunk = |chunk: &[u64], opts: &CodecOptions| -> Result<()> {
        let in_array = array.chunk_subset(chunk)?;
        let overlap = subset
            .overlap(&in_array)
            .map_err(|e| SaveError::ShapeMismatch(e.to_string()))?;
        let in_data = overlap
            .relative_to(subset.start())
            .map_err(|e| SaveError::ShapeMismatch(e.to_string()))?;
        let in_chunk = overlap
            .relative_to(in_array.start())
            .map_err(|e| SaveError::ShapeMismatch(e.to_string()))?;
        let piece = if chunk_list.len() == 1 {
            bytes.clone()
        } else if let Some(range) = contiguous_bytes(&in_data, shape, &data.elements) {
            // Whole rows of C-order input: hand the encoder a view, not a copy.
            ArrayBytes::new_flen(&bytes_of(&data.elements)[range])
        } else {
            bytes
                .extract_array_subset(&in_data, shape, array.data_type())
                .map_err(|e| SaveError::InvalidData(e.to_string()))?
        };
        if covers(&in_chunk, &in_array) {
            blosc::store_chunk(array, fast.as_ref(), chunk, piece, opts)?;
        } else if array.data_type().fixed_size().is_none() {
            array.store_chunk_subset_opt(chunk, &in_chunk, piece, opts)?;
        } else {
            let patch = Patch {
                in_array: &in_array,
                in_chunk: &in_chunk,
                piece: &piece,
            };
            patch_chunk(array, chunk, patch, opts, tails, fast.as_ref())?;
        }
        Ok(())
    };
    // Enough chunks to keep every thread busy: one chunk per task (one thread: in turn).
    let threads = options.concurrent_target();
    let parallel = threads > 1 && chunk_list.len() >= threads;
    let writer = ChunkWriter {
        array,
        options,
        control,
    };
    writer.each(&chunk_list, parallel, write_chunk)
}

/// Where a write's chunks go, with which codec options, under which save's control.
struct ChunkWriter<'a> {
    array: &'a ZArray,
    options: &'a CodecOptions,
    control: &'a Control,
}

impl ChunkWriter<'_> {
    /// `write` every chunk, each once the save is still wanted, and count them on
    /// the control. In `parallel`, one chunk per task with single-threaded codecs;
    /// else one after another, the codecs using the threads.
    fn each(
        &self,
        chunks: &[Vec<u64>],
        parallel: bool,
        write: impl Fn(&[u64], &CodecOptions) -> Result<()> + Sync,
    ) -> Result<()> {
        self.control.add_chunks(chunks.len() as u64);
        let write = |chunk: &Vec<u64>, options: &CodecOptions| {
            self.control.check()?;
            crate::test_hooks::panic_if_asked("chunk");
            write(chunk, options)?;
            self.control.chunk_done();
            Ok(())
        };
        if parallel {
            let single = (*self.options).with_concurrent_target(1);
            chunks.par_iter().try_for_each(|c| write(c, &single))
        } else {
            chunks.iter().try_for_each(|c| write(c, self.options))
        }
    }
}

/// Write `data` (already of the selection's full shape) where `resolved` says: a
/// rectangle through [`write_region`], index lists chunk by chunk.
pub fn write_resolved(
    array: &ZArray,
    chunk_shape: &[u64],
    resolved: &Resolved,
    data: &NdData<'_>,
    options: &CodecOptions,
    control: &Control,
) -> Result<()> {
    match resolved.as_rectangle() {
        Some((start, _)) => write_region(array, &start, data, options, control),
        None => {
            let writer = ChunkWriter {
                array,
                options,
                control,
            };
            write_selection(&writer, chunk_shape, resolved, data)
        }
    }
}

/// The keys of the chunks a write of `shape` at `start` touches, if at most `max`.
pub fn chunk_keys(
    array: &ZArray,
    start: &[u64],
    shape: &[u64],
    max: usize,
) -> Option<Vec<StoreKey>> {
    let subset = ArraySubset::new_with_start_shape(start.to_vec(), shape.to_vec()).ok()?;
    let chunks = array.chunks_in_array_subset(&subset).ok()??;
    (chunks.num_elements() <= max as u64).then(|| {
        chunks
            .indices()
            .into_iter()
            .map(|c| array.chunk_key(&c))
            .collect()
    })
}

fn covers(in_chunk: &ArraySubset, chunk: &ArraySubset) -> bool {
    in_chunk.shape() == chunk.shape() && in_chunk.start().iter().all(|&x| x == 0)
}

/// Where a piece of fixed-size data goes in one chunk.
struct Patch<'a> {
    /// The chunk's extent in the array.
    in_array: &'a ArraySubset,
    /// The piece's extent in the chunk.
    in_chunk: &'a ArraySubset,
    piece: &'a ArrayBytes<'a>,
}

/// Read (from `tails` if it has it), patch and rewrite one chunk, keeping the
/// result in `tails`.
fn patch_chunk(
    array: &ZArray,
    chunk: &[u64],
    Patch {
        in_array,
        in_chunk,
        piece,
    }: Patch<'_>,
    options: &CodecOptions,
    tails: Option<&TailCache>,
    fast: Option<&ShuffledBlosc>,
) -> Result<()> {
    let shape = in_array.shape().to_vec();
    let size = array
        .data_type()
        .fixed_size()
        .ok_or_else(|| SaveError::Unsupported("cached chunks hold fixed-size elements".into()))?;
    let len = bounds::allocation(&shape, size, array.path().as_str())?;
    let (old, previous) = match tails.and_then(|t| t.take(array, chunk, len)) {
        Some((bytes, encoded)) => (ArrayBytes::new_flen(bytes), encoded),
        None => (read_chunk(array, chunk, len, options)?, None),
    };
    let new = update_array_bytes(old, &shape, in_chunk, piece, array.data_type().size())
        .map_err(|e| SaveError::InvalidData(e.to_string()))?
        .into_fixed()
        .map_err(|e| SaveError::Corrupt(e.to_string()))?
        .into_owned();
    match tails {
        Some(tails) => {
            // Only the bytes from the first to the last element written can differ.
            let changed = changed_bytes(in_chunk, &shape, size);
            let previous = previous.as_deref().map(|p| (p, changed));
            let stored = blosc::store_patched_chunk(array, fast, chunk, &new, previous, options)?;
            tails.keep(array, chunk, new, stored);
        }
        None => blosc::store_chunk(array, fast, chunk, ArrayBytes::new_flen(&new[..]), options)?,
    }
    Ok(())
}

/// The decoded `chunk` of `array` (the fill value if it is not stored), `len` bytes
/// long. A blosc chunk's header is read first: what it says it decodes to is
/// allocated before decoding, so a damaged header claiming more than `len` bytes
/// is `Corrupt` instead of an allocation that could abort the process.
fn read_chunk(
    array: &ZArray,
    chunk: &[u64],
    len: usize,
    options: &CodecOptions,
) -> Result<ArrayBytes<'static>> {
    let encoded = array
        .retrieve_encoded_chunk(chunk)
        .map_err(|e| SaveError::store("reading a chunk", e))?;
    let Some(encoded) = encoded else {
        return Ok(array.retrieve_chunk_opt::<ArrayBytes<'static>>(chunk, options)?);
    };
    let codecs = array.codecs();
    let blosc_outside = codecs
        .bytes_to_bytes_codecs()
        .last()
        .and_then(|c| c.name_v3())
        .is_some_and(|name| name == "blosc");
    if blosc_outside {
        bounds::check_blosc_header(&encoded, len, array.chunk_key(chunk).as_str())?;
    }
    let shape = array.chunk_shape(chunk)?;
    let bytes = codecs.decode(
        std::borrow::Cow::Owned(encoded),
        &shape,
        array.data_type(),
        array.fill_value(),
        options,
    );
    Ok(bytes
        .map_err(zarrs::array::ArrayError::CodecError)?
        .into_owned())
}

/// The bytes of a C-order chunk of `shape` from `subset`'s first element to its last.
fn changed_bytes(subset: &ArraySubset, shape: &[u64], size: usize) -> std::ops::Range<usize> {
    let linear = |index: &mut dyn Iterator<Item = u64>| {
        index.zip(shape).fold(0u64, |at, (i, n)| at * n + i) as usize
    };
    if subset.num_elements() == 0 {
        return 0..0;
    }
    let first = linear(&mut subset.start().iter().copied());
    let last = linear(
        &mut subset
            .start()
            .iter()
            .zip(subset.shape())
            .map(|(s, n)| s + n - 1),
    );
    first * size..(last + 1) * size
}

fn bytes_of<'a>(elements: &'a Elements<'_>) -> &'a [u8] {
    match elements {
        Elements::Fixed { bytes, .. } => bytes,
        Elements::Strings(_) => &[],
    }
}

/// The byte range of `subset` inside C-order fixed-size data of `shape`, when the
/// subset is one contiguous run (leading axes of extent 1, then one partial axis,
/// then full axes).
fn contiguous_bytes(
    subset: &ArraySubset,
    shape: &[u64],
    elements: &Elements<'_>,
) -> Option<std::ops::Range<usize>> {
    let Elements::Fixed { dtype, .. } = elements else {
        return None;
    };
    let (start, extent) = (subset.start(), subset.shape());
    let partial = (0..shape.len())
        .rev()
        .find(|&d| extent[d] != shape[d])
        .unwrap_or(0);
    if (0..partial).any(|d| extent[d] != 1) {
        return None;
    }
    let mut offset = 0u64;
    for d in 0..shape.len() {
        offset = offset * shape[d] + start[d];
    }
    let size = dtype.size()? as u64;
    let len = extent.iter().product::<u64>() * size;
    Some((offset * size) as usize..(offset * size + len) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_rows_are_one_contiguous_range() {
        let data = Elements::Fixed {
            dtype: crate::DType::Int16,
            bytes: std::borrow::Cow::Owned(vec![0; 2 * 6 * 4]),
        };
        let rows = ArraySubset::new_with_start_shape(vec![2, 0], vec![3, 4]).unwrap();
        assert_eq!(contiguous_bytes(&rows, &[6, 4], &data), Some(16..40));
        let block = ArraySubset::new_with_start_shape(vec![2, 1], vec![3, 2]).unwrap();
        assert_eq!(contiguous_bytes(&block, &[6, 4], &data), None);
        let part_of_row = ArraySubset::new_with_start_shape(vec![5, 1], vec![1, 2]).unwrap();
        assert_eq!(contiguous_bytes(&part_of_row, &[6, 4], &data), Some(42..46));
    }

    #[test]
    fn changed_bytes_span_the_first_to_the_last_element_written() {
        let block = ArraySubset::new_with_start_shape(vec![2, 1], vec![3, 2]).unwrap();
        assert_eq!(changed_bytes(&block, &[6, 4], 8), 9 * 8..19 * 8);
        let rows = ArraySubset::new_with_start_shape(vec![5, 0], vec![1, 4]).unwrap();
        assert_eq!(changed_bytes(&rows, &[6, 4], 2), 40..48);
        let nothing = ArraySubset::new_with_start_shape(vec![1, 1], vec![0, 4]).unwrap();
        assert!(changed_bytes(&nothing, &[6, 4], 8).is_empty());
    }
}
