//! Blosc with byte shuffle, shuffled here. c-blosc as `blosc-src` builds it shuffles
//! with SSE2, which took as long as LZ4 itself on the bulk benchmark. For arrays
//! whose codecs are just `bytes` (little-endian) and `blosc` with byte shuffle of
//! 4- or 8-byte elements, a chunk is shuffled block by block with AVX-512 or AVX2
//! ([`shuffle`]) and handed to blosc with shuffle off; the header then gets
//! its shuffle flag. The result is byte for byte what blosc writes when it shuffles
//! itself (a test holds it to that), so every reader decodes it as usual. Anything
//! unusual (blosc copied the data verbatim, a block size other than the one
//! computed here) falls back to zarrs' own encoding.
//!
//! A chunk that appends keep rewriting is encoded in blocks of [`TAIL_BLOCK`]
//! instead ([`ShuffledBlosc::encode_tail`]): blosc compresses each block on its own,
//! so the blocks an append did not touch are copied from the chunk's previous
//! encoding, and an append of a few rows re-encodes one block instead of the whole
//! chunk (most of which, at the array's end, is fill that LZ4 still has to scan).
//! The frame is the one blosc writes for that block size (a test holds it to that).

use std::ffi::{c_char, c_int, c_void};
use std::ops::Range;

use bytes::Bytes;
use serde_json::Value;
use zarrs::array::{ArrayBytes, CodecMetadataOptions, CodecOptions};
use zarrs::plugin::ExtensionName;

use crate::error::Result;
mod pool;
mod shuffle;
use crate::hierarchy::ZArray;
use pool::{pooled_buffer, Pooled};

const HEADER: usize = blosc_src::BLOSC_MAX_OVERHEAD as usize;
const FLAGS: usize = 2;
const MIN_BUFFERSIZE: usize = 128;
const L1: usize = 32 << 10;
const MAX_SPLITS: usize = 16;
/// The block size of chunks appends rewrite. Compression is as good as with blosc's
/// own 1 MiB blocks on the benchmark data (128 KiB: 25.81 MB, 1 MiB: 25.87 MB).
pub const TAIL_BLOCK: usize = 128 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cname {
    BloscLz,
    Lz4,
    Lz4hc,
    Snappy,
    Zlib,
    Zstd,
}

impl Cname {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "blosclz" => Self::BloscLz,
            "lz4" => Self::Lz4,
            "lz4hc" => Self::Lz4hc,
            "snappy" => Self::Snappy,
            "zlib" => Self::Zlib,
            "zstd" => Self::Zstd,
            _ => return None,
        })
    }

    fn c_name(self) -> *const c_char {
        let name: &[u8] = match self {
            Self::BloscLz => blosc_src::BLOSC_BLOSCLZ_COMPNAME,
            Self::Lz4 => blosc_src::BLOSC_LZ4_COMPNAME,
            Self::Lz4hc => blosc_src::BLOSC_LZ4HC_COMPNAME,
            Self::Snappy => blosc_src::BLOSC_SNAPPY_COMPNAME,
            Self::Zlib => blosc_src::BLOSC_ZLIB_COMPNAME,
            Self::Zstd => blosc_src::BLOSC_ZSTD_COMPNAME,
        };
        name.as_ptr().cast()
    }

    /// Blosc's "high compression ratio" codecs, which get larger blocks.
    fn hcr(self) -> bool {
        matches!(self, Self::Lz4hc | Self::Zlib | Self::Zstd)
    }
}

/// The blosc configuration of an array whose chunks [`ShuffledBlosc::encode`] can encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuffledBlosc {
    cname: Cname,
    clevel: u8,
    typesize: usize,
    blocksize: usize,
}

impl ShuffledBlosc {
    /// For `array` if its codecs are `bytes` then `blosc` with byte shuffle, for an
    /// element size this CPU has a vector shuffle for; `None` otherwise.
    pub fn for_array(array: &ZArray) -> Option<Self> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let codecs = array.codecs();
        let options = CodecMetadataOptions::default();
        if !codecs.array_to_array_codecs().is_empty() {
            return None;
        }
        let bytes = codecs.array_to_bytes_codec();
        if bytes.name_v3()? != "bytes" {
            return None;
        }
        let endian = bytes.configuration_v3(&options).unwrap_or_default();
        if endian.get("endian").is_some_and(|e| e != "little") {
            return None;
        }
        let [blosc] = codecs.bytes_to_bytes_codecs() else {
            return None;
        };
        if blosc.name_v3()? != "blosc" {
            return None;
        }
        Self::from_configuration(&blosc.configuration_v3(&options)?.into())
    }

    fn from_configuration(cfg: &serde_json::Map<String, Value>) -> Option<Self> {
        let typesize = cfg.get("typesize")?.as_u64()? as usize;
        let shuffled = cfg.get("shuffle")? == "shuffle";
        let this = Self {
            cname: Cname::parse(cfg.get("cname")?.as_str()?)?,
            clevel: u8::try_from(cfg.get("clevel")?.as_u64()?).ok()?,
            typesize,
            blocksize: cfg.get("blocksize").and_then(Value::as_u64).unwrap_or(0) as usize,
        };
        (shuffled && this.clevel > 0 && shuffle::has_fast_kernel(typesize)).then_some(this)
    }

    /// The block size c-blosc 1.x picks for `nbytes` (its `compute_blocksize`).
    fn block_size(&self, nbytes: usize) -> usize {
        let (typesize, clevel) = (self.typesize, usize::from(self.clevel));
        if nbytes < typesize {
            return 1;
        }
        let mut size = nbytes;
        if self.blocksize > 0 {
            size = self.blocksize.clamp(MIN_BUFFERSIZE, blosc_max_blocksize());
        } else if nbytes >= L1 {
            size = L1;
            if self.cname.hcr() {
                size *= 2;
            }
            size = match clevel {
                0 => size / 4,
                1 => size / 2,
                2 => size,
                3 => size * 2,
                4 | 5 => size * 4,
                6..=8 => size * 8,
                _ if self.cname.hcr() => size * 16,
                _ => size * 8,
            };
        }
        // Blosc's default split mode: codecs other than zstd split blocks by byte.
        let split = self.cname != Cname::Zstd
            && typesize <= MAX_SPLITS
            && size / typesize >= MIN_BUFFERSIZE;
        if clevel > 0 && split {
            size = (size.min(1 << 18) * typesize).clamp(1 << 16, 1 << 20);
        }
        size = size.min(nbytes);
        if size > typesize {
            size = size / typesize * typesize;
        }
        size
    }

    /// `chunk` encoded as blosc would with its own shuffle, or `None` when this
    /// path does not apply and the caller should let zarrs encode it.
    pub fn encode(&self, chunk: &[u8]) -> Option<Bytes> {
        if chunk.len() < MIN_BUFFERSIZE || chunk.len() > i32::MAX as usize - HEADER {
            return None;
        }
        let capacity = chunk.len() + HEADER;
        let mut out = pooled_buffer(capacity);
        let block = self.block_size(chunk.len());
        self.shuffled_frame(chunk, block, self.blocksize, &mut out, capacity)?;
        Some(Bytes::from_owner(Pooled(out)))
    }

    /// `chunk` encoded in blocks of [`TAIL_BLOCK`]. With `previous` (the chunk's
    /// encoding before the bytes in the range were written), blocks outside the range
    /// are copied from it. `None` when the chunk does not split into such blocks or
    /// blosc would store a block verbatim: the caller encodes it another way.
    pub fn encode_tail(
        &self,
        chunk: &[u8],
        previous: Option<(&[u8], Range<usize>)>,
    ) -> Option<Bytes> {
        let n = chunk.len();
        if !n.is_multiple_of(TAIL_BLOCK) || n < 2 * TAIL_BLOCK || n > i32::MAX as usize - HEADER {
            return None;
        }
        let blocks = n / TAIL_BLOCK;
        let previous = previous
            .and_then(|(frame, changed)| Some((Frame::parse(frame, n, self.typesize)?, changed)));
        let table = HEADER + 4 * blocks;
        let mut out = pooled_buffer(n + HEADER);
        out.resize(table, 0);
        let mut header = previous.as_ref().map(|(f, _)| f.bytes[..4].to_vec());
        for (i, block) in chunk.chunks(TAIL_BLOCK).enumerate() {
            let start = u32::try_from(out.len()).ok()?;
            out[HEADER + 4 * i..HEADER + 4 * i + 4].copy_from_slice(&start.to_le_bytes());
            let span = i * TAIL_BLOCK..(i + 1) * TAIL_BLOCK;
            match &previous {
                Some((frame, changed))
                    if changed.end <= span.start || span.end <= changed.start =>
                {
                    out.extend_from_slice(frame.block(i));
                }
                _ => {
                    let made = self.compress_block(block, &mut out)?;
                    if header.get_or_insert_with(|| made.clone()) != &made {
                        return None;
                    }
                }
            }
        }
        let header = header?;
        if out.len() > n + HEADER {
            // Larger than blosc's own frame, which would be a verbatim copy.
            return None;
        }
        out[..4].copy_from_slice(&header);
        out[FLAGS] |= blosc_src::BLOSC_DOSHUFFLE as u8;
        let cbytes = u32::try_from(out.len()).ok()?;
        out[4..8].copy_from_slice(&(n as u32).to_le_bytes());
        out[8..12].copy_from_slice(&(TAIL_BLOCK as u32).to_le_bytes());
        out[12..16].copy_from_slice(&cbytes.to_le_bytes());
        Some(Bytes::from_owner(Pooled(out)))
    }

    /// blosc's one-call compression of `src` with this configuration's codec, level
    /// and element size, and `shuffle` (a `BLOSC_*SHUFFLE`), into the `capacity` bytes
    /// at `dst`: the frame's length, 0 when it does not fit, negative on an error.
    ///
    /// # Safety
    /// `dst` is valid for writes of `capacity` bytes.
    unsafe fn compress_raw(
        &self,
        shuffle: u32,
        src: &[u8],
        blocksize: usize,
        dst: *mut u8,
        capacity: usize,
    ) -> c_int {
        blosc_src::blosc_compress_ctx(
            c_int::from(self.clevel),
            shuffle as c_int,
            self.typesize,
            src.len(),
            src.as_ptr().cast::<c_void>(),
            dst.cast::<c_void>(),
            capacity,
            self.cname.c_name(),
            blocksize,
            1,
        )
    }

    /// Shuffle `chunk` in blocks of `block` bytes and compress it with blosc's shuffle
    /// off, asking for `blocksize`, into a frame appended to `out` of at most
    /// `capacity` bytes; then set the frame's shuffle flag. `None` (with `out` left
    /// longer) when blosc used other blocks than those shuffled or copied the data
    /// verbatim: either way the frame would not decode to `chunk`.
    fn shuffled_frame(
        &self,
        chunk: &[u8],
        block: usize,
        blocksize: usize,
        out: &mut Vec<u8>,
        capacity: usize,
    ) -> Option<Range<usize>> {
        SCRATCH.with_borrow_mut(|shuffled| {
            // Every byte is overwritten below: only a longer chunk than before zeroes.
            shuffled.resize(chunk.len(), 0);
            for (src, dst) in chunk.chunks(block).zip(shuffled.chunks_mut(block)) {
                shuffle::shuffle(self.typesize, src, dst);
            }
            let at = out.len();
            out.reserve(capacity);
            // SAFETY: `out` has `capacity` spare bytes from `at`; blosc reads
            // `chunk.len()` bytes, writes at most `capacity` and says how many.
            let written = unsafe {
                self.compress_raw(
                    blosc_src::BLOSC_NOSHUFFLE,
                    shuffled,
                    blocksize,
                    out.as_mut_ptr().add(at),
                    capacity,
                )
            };
            let written = usize::try_from(written).ok().filter(|&w| w >= HEADER)?;
            // SAFETY: blosc initialised `written` bytes from `at`.
            unsafe { out.set_len(at + written) };
            let frame = &mut out[at..];
            let verbatim = frame[FLAGS] & blosc_src::BLOSC_MEMCPYED as u8 != 0;
            let used = u32::from_le_bytes(frame[8..12].try_into().ok()?) as usize;
            if verbatim || used != block {
                return None;
            }
            frame[FLAGS] |= blosc_src::BLOSC_DOSHUFFLE as u8;
            Some(at..at + written)
        })
    }

    /// Shuffle and compress one [`TAIL_BLOCK`], appending its compressed streams to
    /// `out`; returns the first 4 header bytes of its frame (versions, flags, typesize).
    fn compress_block(&self, block: &[u8], out: &mut Vec<u8>) -> Option<Vec<u8>> {
        // Room for every stream stored raw, so blosc never gives up on the block.
        let capacity = block.len() + HEADER + 4 + 4 * self.typesize;
        let frame = self
            .shuffled_frame(block, block.len(), block.len(), out, capacity)
            .filter(|f| f.len() > HEADER + 4)?;
        let header = out[frame.start..frame.start + 4].to_vec();
        // Keep the compressed streams only: drop this frame's header and block table.
        out.copy_within(frame.start + HEADER + 4.., frame.start);
        out.truncate(frame.end - HEADER - 4);
        Some(header)
    }
}

/// A blosc frame of [`TAIL_BLOCK`]s that [`ShuffledBlosc::encode_tail`] wrote.
struct Frame<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> Frame<'a> {
    /// `bytes` if it is such a frame of `nbytes` with this typesize and byte shuffle.
    fn parse(bytes: &'a [u8], nbytes: usize, typesize: usize) -> Option<Self> {
        let word =
            |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize);
        let flags = *bytes.get(FLAGS)?;
        let ok = flags & blosc_src::BLOSC_DOSHUFFLE as u8 != 0
            && flags & blosc_src::BLOSC_MEMCPYED as u8 == 0
            && usize::from(*bytes.get(3)?) == typesize
            && word(4)? == nbytes
            && word(8)? == TAIL_BLOCK
            && word(12)? == bytes.len();
        let blocks = nbytes / TAIL_BLOCK;
        let table_end = HEADER + 4 * blocks;
        let starts: Vec<usize> = (0..blocks)
            .map(|i| word(HEADER + 4 * i))
            .collect::<Option<_>>()?;
        let ordered = starts.first() == Some(&table_end)
            && starts.windows(2).all(|w| w[0] <= w[1])
            && starts.last().is_some_and(|&s| s <= bytes.len());
        (ok && ordered).then_some(Self { bytes, starts })
    }

    /// The compressed streams of block `i`.
    fn block(&self, i: usize) -> &'a [u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        &self.bytes[self.starts[i]..end]
    }
}

thread_local! {
    /// The shuffled copy of the chunk being encoded on this thread, reused.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn blosc_max_blocksize() -> usize {
    (i32::MAX as usize - 255 * 4) / 3
}

/// Store one whole chunk: through [`ShuffledBlosc`] when `fast` applies, else zarrs.
/// A chunk equal to the fill value is erased rather than written, as zarrs does.
pub fn store_chunk(
    array: &ZArray,
    fast: Option<&ShuffledBlosc>,
    chunk: &[u64],
    bytes: ArrayBytes<'_>,
    options: &CodecOptions,
) -> Result<()> {
    if let (Some(fast), ArrayBytes::Fixed(raw)) = (fast, &bytes) {
        let expected = array
            .chunk_shape(chunk)?
            .iter()
            .map(|n| n.get())
            .product::<u64>()
            * array.data_type().fixed_size().unwrap_or(0) as u64;
        let is_fill = !options.store_empty_chunks() && bytes.is_fill_value(array.fill_value());
        if raw.len() as u64 == expected && !is_fill {
            if let Some(encoded) = fast.encode(raw) {
                // SAFETY: `encoded` is this chunk in the array's own codecs: bytes
                // (little-endian, the in-memory order here) then blosc as configured.
                unsafe { array.store_encoded_chunk(chunk, encoded)? };
                return Ok(());
            }
        }
    }
    array.store_chunk_opt(chunk, bytes, options)?;
    Ok(())
}

/// Store a chunk an append patched, in [`TAIL_BLOCK`]s when `fast` applies, with
/// `previous` as in [`ShuffledBlosc::encode_tail`]. Returns the encoding stored that
/// way, for the next append to reuse.
pub fn store_patched_chunk(
    array: &ZArray,
    fast: Option<&ShuffledBlosc>,
    chunk: &[u64],
    bytes: &[u8],
    previous: Option<(&[u8], Range<usize>)>,
    options: &CodecOptions,
) -> Result<Option<Bytes>> {
    let decoded = ArrayBytes::new_flen(bytes);
    if let Some(fast) = fast {
        let is_fill = !options.store_empty_chunks() && decoded.is_fill_value(array.fill_value());
        if !is_fill {
            if let Some(encoded) = fast.encode_tail(bytes, previous) {
                // SAFETY: as in `store_chunk`; a blosc frame of any block size is valid.
                unsafe { array.store_encoded_chunk(chunk, encoded.clone())? };
                return Ok(Some(encoded));
            }
        }
    }
    store_chunk(array, fast, chunk, decoded, options)?;
    Ok(None)
}

#[cfg(test)]
mod tests;
