//! Blosc's byte shuffle: element `i`'s byte `j` of a block goes to `j * n + i`, where
//! `n` is the number of whole elements in the block; bytes past the last whole
//! element stay where they are. This module does it with AVX-512 VBMI (8-byte
//! elements) or AVX2 (4- and 8-byte), picked at run time. c-blosc as `blosc-src`
//! builds it has only its SSE2 shuffle unless the whole crate targets AVX2, which
//! would make the addon crash on older CPUs. The encoder in this folder uses this.

/// Whether [`shuffle`] has a vector kernel for `typesize` on this CPU.
pub fn has_fast_kernel(typesize: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(typesize, 4 | 8) && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = typesize;
        false
    }
}

/// Shuffle one block: `dst` gets `src` with bytes grouped by their position in
/// the element. `src` and `dst` have the same length.
pub fn shuffle(typesize: usize, src: &[u8], dst: &mut [u8]) {
    assert_eq!(
        src.len(),
        dst.len(),
        "shuffle: source and destination differ in length"
    );
    let n = src.len() / typesize.max(1);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if has_fast_kernel(typesize) {
        // SAFETY: the CPU has the features each kernel needs (checked here and in
        // `has_fast_kernel`); the kernels read and write only whole groups of 32 or 64
        // elements inside `src` and `dst`, which hold `n * typesize` bytes or more.
        done = unsafe {
            match typesize {
                8 if avx512::available() => avx512::shuffle8(src, dst, n),
                8 => avx2::shuffle::<8>(src, dst, n),
                _ => avx2::shuffle::<4>(src, dst, n),
            }
        };
    }
    shuffle_scalar(typesize, src, dst, done);
}

/// Elements `from..` of the block, one byte at a time, then the trailing bytes.
fn shuffle_scalar(typesize: usize, src: &[u8], dst: &mut [u8], from: usize) {
    let n = src.len() / typesize.max(1);
    for i in from..n {
        for j in 0..typesize {
            dst[j * n + i] = src[i * typesize + j];
        }
    }
    let whole = n * typesize;
    dst[whole..].copy_from_slice(&src[whole..]);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Shuffle the first `n / 32 * 32` elements of `SIZE` bytes (4 or 8); returns
    /// how many it did.
    ///
    /// 32 elements are `SIZE` registers. In each 128-bit lane a byte shuffle groups
    /// equal bytes into units: words (byte j of both elements of the lane) for 8-byte
    /// elements, dwords (byte j of all 4) for 4-byte ones. A transpose of those units
    /// across the registers (unpacks of 16, 32, 64 bits, or 32, 64) leaves register j
    /// holding byte j of all 32 elements, split between the lanes; one cross-lane
    /// permute and one in-lane shuffle put them in order.
    ///
    /// # Safety
    /// The CPU has AVX2; `src` and `dst` hold at least `n * SIZE` bytes.
    #[target_feature(enable = "avx2")]
    pub unsafe fn shuffle<const SIZE: usize>(src: &[u8], dst: &mut [u8], n: usize) -> usize {
        let group_bytes = if SIZE == 8 {
            _mm256_setr_epi8(
                0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, //
                0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
            )
        } else {
            _mm256_setr_epi8(
                0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, //
                0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
            )
        };
        let interleave_words = _mm256_setr_epi8(
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, //
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
        );
        let groups = n / 32;
        let s = src.as_ptr();
        let d = dst.as_mut_ptr();
        for g in 0..groups {
            let base = s.add(g * 32 * SIZE);
            let mut r = [_mm256_setzero_si256(); SIZE];
            for (k, reg) in r.iter_mut().enumerate() {
                let v = _mm256_loadu_si256(base.add(k * 32).cast());
                *reg = _mm256_shuffle_epi8(v, group_bytes);
            }
            let r = if SIZE == 8 {
                unpack::<64, 4, SIZE>(unpack::<32, 2, SIZE>(unpack::<16, 1, SIZE>(r)))
            } else {
                unpack::<64, 2, SIZE>(unpack::<32, 1, SIZE>(r))
            };
            for (j, v) in r.into_iter().enumerate() {
                let ordered = _mm256_permute4x64_epi64::<0b11_01_10_00>(v);
                let out = if SIZE == 8 {
                    _mm256_shuffle_epi8(ordered, interleave_words)
                } else {
                    _mm256_shuffle_epi32::<0b11_01_10_00>(ordered)
                };
                _mm256_storeu_si256(d.add(j * n + g * 32).cast(), out);
            }
        }
        groups * 32
    }

    /// One step of the transpose: each register `a` whose index has bit `DIST`
    /// clear is paired with register `a + DIST`, and the pair's `BITS`-bit units
    /// interleaved (low halves, then high) into the next two output registers.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn unpack<const BITS: u32, const DIST: usize, const N: usize>(r: [__m256i; N]) -> [__m256i; N] {
        let mut out = r;
        for (p, a) in (0..N).filter(|a| a & DIST == 0).enumerate() {
            let (x, y) = (r[a], r[a + DIST]);
            (out[2 * p], out[2 * p + 1]) = match BITS {
                16 => (_mm256_unpacklo_epi16(x, y), _mm256_unpackhi_epi16(x, y)),
                32 => (_mm256_unpacklo_epi32(x, y), _mm256_unpackhi_epi32(x, y)),
                _ => (_mm256_unpacklo_epi64(x, y), _mm256_unpackhi_epi64(x, y)),
            };
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Whether this CPU (and OS) runs [`shuffle8`].
    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
    }

    /// Shuffle the first `n / 64 * 64` 8-byte elements; returns how many it did.
    /// A byte permute turns each register of 8 elements into 8 qwords of equal
    /// bytes; an 8x8 qword transpose across 8 registers finishes it.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and VBMI; `src` and `dst` hold at least `n * 8` bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn shuffle8(src: &[u8], dst: &mut [u8], n: usize) -> usize {
        let mut by_byte = [0u8; 64];
        for (i, b) in by_byte.iter_mut().enumerate() {
            *b = ((i % 8) * 8 + i / 8) as u8;
        }
        let by_byte = _mm512_loadu_si512(by_byte.as_ptr().cast());
        let pairs_lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
        let pairs_hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
        let groups = n / 64;
        let s = src.as_ptr();
        let d = dst.as_mut_ptr();
        for g in 0..groups {
            let base = s.add(g * 512);
            let mut r = [_mm512_setzero_si512(); 8];
            for (k, reg) in r.iter_mut().enumerate() {
                let v = _mm512_loadu_si512(base.add(k * 64).cast());
                *reg = _mm512_permutexvar_epi8(by_byte, v);
            }
            let a = [
                _mm512_unpacklo_epi64(r[0], r[1]),
                _mm512_unpackhi_epi64(r[0], r[1]),
                _mm512_unpacklo_epi64(r[2], r[3]),
                _mm512_unpackhi_epi64(r[2], r[3]),
                _mm512_unpacklo_epi64(r[4], r[5]),
                _mm512_unpackhi_epi64(r[4], r[5]),
                _mm512_unpacklo_epi64(r[6], r[7]),
                _mm512_unpackhi_epi64(r[6], r[7]),
            ];
            let b = [
                _mm512_permutex2var_epi64(a[0], pairs_lo, a[2]),
                _mm512_permutex2var_epi64(a[1], pairs_lo, a[3]),
                _mm512_permutex2var_epi64(a[0], pairs_hi, a[2]),
                _mm512_permutex2var_epi64(a[1], pairs_hi, a[3]),
                _mm512_permutex2var_epi64(a[4], pairs_lo, a[6]),
                _mm512_permutex2var_epi64(a[5], pairs_lo, a[7]),
                _mm512_permutex2var_epi64(a[4], pairs_hi, a[6]),
                _mm512_permutex2var_epi64(a[5], pairs_hi, a[7]),
            ];
            let out = [
                _mm512_shuffle_i64x2::<0b01_00_01_00>(b[0], b[4]),
                _mm512_shuffle_i64x2::<0b01_00_01_00>(b[1], b[5]),
                _mm512_shuffle_i64x2::<0b01_00_01_00>(b[2], b[6]),
                _mm512_shuffle_i64x2::<0b01_00_01_00>(b[3], b[7]),
                _mm512_shuffle_i64x2::<0b11_10_11_10>(b[0], b[4]),
                _mm512_shuffle_i64x2::<0b11_10_11_10>(b[1], b[5]),
                _mm512_shuffle_i64x2::<0b11_10_11_10>(b[2], b[6]),
                _mm512_shuffle_i64x2::<0b11_10_11_10>(b[3], b[7]),
            ];
            for (j, v) in out.into_iter().enumerate() {
                _mm512_storeu_si512(d.add(j * n + g * 64).cast(), v);
            }
        }
        groups * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(typesize: usize, src: &[u8]) -> Vec<u8> {
        let mut dst = vec![0xAA; src.len()];
        shuffle_scalar(typesize, src, &mut dst, 0);
        dst
    }

    #[test]
    fn the_scalar_shuffle_groups_bytes_by_position() {
        let src = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(reference(2, &src), [1, 3, 5, 2, 4, 6, 7]);
    }

    /// Every kernel this CPU can run, by name, with the element size it serves.
    #[allow(clippy::type_complexity)]
    fn kernels() -> Vec<(
        &'static str,
        usize,
        unsafe fn(&[u8], &mut [u8], usize) -> usize,
    )> {
        let mut out: Vec<(
            &'static str,
            usize,
            unsafe fn(&[u8], &mut [u8], usize) -> usize,
        )> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                out.push(("avx2 8", 8, avx2::shuffle::<8>));
                out.push(("avx2 4", 4, avx2::shuffle::<4>));
            }
            if avx512::available() {
                out.push(("avx512 8", 8, avx512::shuffle8));
            }
        }
        out
    }

    #[test]
    fn vector_kernels_match_the_scalar_shuffle() {
        let kernels = kernels();
        if kernels.is_empty() {
            eprintln!("no vector kernel runs here: nothing to compare");
        }
        for (name, typesize, kernel) in kernels {
            for elements in [0, 1, 31, 32, 33, 64, 95, 129, 1000, 8192] {
                for extra in [0, typesize - 1] {
                    let len = elements * typesize + extra;
                    let src: Vec<u8> = (0..len).map(|i| (i * 131 + i / 7) as u8).collect();
                    let mut dst = vec![0x55; len];
                    // SAFETY: the CPU runs this kernel; both buffers are `len` long.
                    let done = unsafe { kernel(&src, &mut dst, elements) };
                    shuffle_scalar(typesize, &src, &mut dst, done);
                    assert_eq!(dst, reference(typesize, &src), "{name}, {len} bytes");
                }
            }
        }
    }

    #[test]
    fn shuffle_picks_a_kernel_and_finishes_the_tail() {
        for typesize in [2, 4, 8, 12] {
            let src: Vec<u8> = (0..1000 * typesize + 1).map(|i| (i * 7) as u8).collect();
            let mut dst = vec![0; src.len()];
            shuffle(typesize, &src, &mut dst);
            assert_eq!(dst, reference(typesize, &src), "typesize {typesize}");
        }
    }
}
