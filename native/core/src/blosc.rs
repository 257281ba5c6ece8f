//! Blosc with byte shuffle, shuffled here. c-blosc as `blosc-src` builds it shuffles
//! with SSE2, which took as long as LZ4 itself on the bulk benchmark. For arrays
//! whose codecs are just `bytes` (little-endian) and `blosc` with byte shuffle of
//! 4- or 8-byte elements, a chunk is shuffled block by block with AVX2
//! ([`crate::shuffle`]) and handed to blosc with shuffle off; the header then gets
//! its shuffle flag. The result is byte for byte what blosc writes when it shuffles
//! itself (a test holds it to that), so every reader decodes it as usual. Anything
//! unusual (blosc copied the data verbatim, a block size other than the one
//! computed here) falls back to zarrs' own encoding.

use std::ffi::{c_char, c_int, c_void};

use serde_json::Value;
use zarrs::array::{ArrayBytes, CodecMetadataOptions, CodecOptions};
use zarrs::plugin::ExtensionName;

use crate::error::Result;
use crate::shuffle;
use crate::write::ZArray;

const HEADER: usize = blosc_src::BLOSC_MAX_OVERHEAD as usize;
const FLAGS: usize = 2;
const MIN_BUFFERSIZE: usize = 128;
const L1: usize = 32 << 10;
const MAX_SPLITS: usize = 16;

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
    pub fn encode(&self, chunk: &[u8]) -> Option<Vec<u8>> {
        if chunk.len() < MIN_BUFFERSIZE || chunk.len() > i32::MAX as usize - HEADER {
            return None;
        }
        let block = self.block_size(chunk.len());
        SCRATCH.with_borrow_mut(|shuffled| {
            // Every byte is overwritten below: only a longer chunk than before zeroes.
            shuffled.resize(chunk.len(), 0);
            for (src, dst) in chunk.chunks(block).zip(shuffled.chunks_mut(block)) {
                shuffle::shuffle(self.typesize, src, dst);
            }
            let capacity = chunk.len() + HEADER;
            let mut out: Vec<u8> = Vec::with_capacity(capacity);
            // SAFETY: `shuffled` holds `chunk.len()` bytes and `out` has room for
            // `capacity`; blosc writes at most `capacity` bytes and returns how many.
            let written = unsafe {
                blosc_src::blosc_compress_ctx(
                    c_int::from(self.clevel),
                    blosc_src::BLOSC_NOSHUFFLE as c_int,
                    self.typesize,
                    chunk.len(),
                    shuffled.as_ptr().cast::<c_void>(),
                    out.as_mut_ptr().cast::<c_void>(),
                    capacity,
                    self.cname.c_name(),
                    self.blocksize,
                    1,
                )
            };
            let written = usize::try_from(written).ok().filter(|&n| n >= HEADER)?;
            // SAFETY: blosc initialised the first `written` bytes.
            unsafe { out.set_len(written) };
            let verbatim = out[FLAGS] & blosc_src::BLOSC_MEMCPYED as u8 != 0;
            let header_block = u32::from_le_bytes(out[8..12].try_into().ok()?) as usize;
            if verbatim || header_block != block {
                // Stored unshuffled, or blocks other than the ones shuffled above.
                return None;
            }
            out[FLAGS] |= blosc_src::BLOSC_DOSHUFFLE as u8;
            Some(out)
        })
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
                unsafe { array.store_encoded_chunk(chunk, encoded.into())? };
                return Ok(());
            }
        }
    }
    array.store_chunk_opt(chunk, bytes, options)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What blosc itself writes, shuffling with its own (SSE2) code.
    fn blosc_shuffling(cfg: &ShuffledBlosc, chunk: &[u8]) -> Vec<u8> {
        let capacity = chunk.len() + HEADER;
        let mut out = vec![0u8; capacity];
        let n = unsafe {
            blosc_src::blosc_compress_ctx(
                c_int::from(cfg.clevel),
                blosc_src::BLOSC_DOSHUFFLE as c_int,
                cfg.typesize,
                chunk.len(),
                chunk.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                capacity,
                cfg.cname.c_name(),
                cfg.blocksize,
                1,
            )
        };
        assert!(n > 0, "blosc failed: {n}");
        out.truncate(n as usize);
        out
    }

    /// Smooth values with noise in the low bytes, like measurements.
    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len / 8)
            .flat_map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((i as f64 * 0.001).sin() + (x % 1000) as f64 * 1e-6).to_le_bytes()
            })
            .chain(std::iter::repeat_n(7, len % 8))
            .collect()
    }

    #[test]
    fn encodes_exactly_as_blosc_shuffling_itself() {
        if !shuffle::has_fast_kernel(8) {
            eprintln!("no AVX2 here: nothing to compare");
            return;
        }
        for cname in ["lz4", "blosclz", "lz4hc", "zstd", "zlib", "snappy"] {
            for clevel in [1, 5, 9] {
                for typesize in [4, 8] {
                    for blocksize in [0, 3000, 1 << 16] {
                        let cfg = ShuffledBlosc::from_configuration(
                            json!({"cname": cname, "clevel": clevel, "shuffle": "shuffle",
                                   "typesize": typesize, "blocksize": blocksize})
                            .as_object()
                            .unwrap(),
                        )
                        .expect("a config the fast path takes");
                        for len in [128, 1000, 40_000, 300_000, 1 << 20, (1 << 20) + 24] {
                            let chunk = data(len, len as u64 + clevel);
                            let what = format!("{cname} clevel {clevel} typesize {typesize} blocksize {blocksize}, {len} bytes");
                            let Some(ours) = cfg.encode(&chunk) else {
                                // Only data blosc stores verbatim may take the slow path.
                                let theirs = blosc_shuffling(&cfg, &chunk);
                                assert_ne!(theirs[FLAGS] & 2, 0, "{what}: fell back");
                                continue;
                            };
                            assert!(
                                ours == blosc_shuffling(&cfg, &chunk),
                                "{what}: bytes differ"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_byte_shuffle_with_a_vector_kernel_is_taken() {
        let cfg = |shuffle: &str, typesize: u64, clevel: u64| {
            ShuffledBlosc::from_configuration(
                json!({"cname": "lz4", "clevel": clevel, "shuffle": shuffle, "typesize": typesize, "blocksize": 0})
                    .as_object()
                    .unwrap(),
            )
        };
        assert_eq!(cfg("noshuffle", 8, 5), None);
        assert_eq!(cfg("bitshuffle", 8, 5), None);
        assert_eq!(cfg("shuffle", 2, 5), None);
        assert_eq!(cfg("shuffle", 8, 0), None);
        assert_eq!(cfg("shuffle", 8, 5).is_some(), shuffle::has_fast_kernel(8));
    }
}
