//! The accelerated encoder held to blosc's own output, byte for byte.

use super::*;
use serde_json::json;

/// What blosc itself writes, shuffling with its own (SSE2) code.
fn blosc_shuffling(cfg: &ShuffledBlosc, chunk: &[u8]) -> Vec<u8> {
    let capacity = chunk.len() + HEADER;
    let mut out = vec![0u8; capacity];
    // SAFETY: `out` holds `capacity` bytes.
    let n = unsafe {
        cfg.compress_raw(
            blosc_src::BLOSC_DOSHUFFLE,
            chunk,
            cfg.blocksize,
            out.as_mut_ptr(),
            capacity,
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

fn lz4(typesize: u64) -> ShuffledBlosc {
    config("lz4", 5, typesize)
}

fn config(cname: &str, clevel: u64, typesize: u64) -> ShuffledBlosc {
    ShuffledBlosc::from_configuration(
        json!({"cname": cname, "clevel": clevel, "shuffle": "shuffle", "typesize": typesize, "blocksize": 0})
            .as_object()
            .unwrap(),
    )
    .expect("a config the fast path takes")
}

/// Blosc's own frame of `chunk` in blocks of `TAIL_BLOCK`. Blosc scales a
/// requested block size by the typesize for codecs it splits: try both.
fn blosc_in_tail_blocks(cfg: &ShuffledBlosc, chunk: &[u8]) -> Vec<u8> {
    for forced in [TAIL_BLOCK / cfg.typesize, TAIL_BLOCK] {
        let out = blosc_shuffling(
            &ShuffledBlosc {
                blocksize: forced,
                ..cfg.clone()
            },
            chunk,
        );
        if u32::from_le_bytes(out[8..12].try_into().unwrap()) as usize == TAIL_BLOCK {
            return out;
        }
    }
    panic!("blosc would not use blocks of {TAIL_BLOCK}");
}

/// Data in the first `filled` bytes, zeros (fill) after: an array's last chunk.
fn tail_chunk(len: usize, filled: usize) -> Vec<u8> {
    let mut chunk = data(len, 7);
    chunk[filled..].fill(0);
    chunk
}

#[test]
fn tail_frames_are_what_blosc_writes_for_that_block_size() {
    if !shuffle::has_fast_kernel(8) {
        return;
    }
    let mut compared = 0;
    for cname in ["lz4", "blosclz", "zstd", "zlib"] {
        for clevel in [1, 5, 9] {
            for typesize in [4, 8] {
                let cfg = config(cname, clevel, typesize);
                for len in [2 * TAIL_BLOCK, 1 << 20] {
                    let chunk = tail_chunk(len, len / 3);
                    let what = format!("{cname} clevel {clevel} typesize {typesize}, {len} bytes");
                    let theirs = blosc_in_tail_blocks(&cfg, &chunk);
                    match cfg.encode_tail(&chunk, None) {
                        Some(ours) => {
                            assert!(ours == theirs, "{what}: frames differ");
                            compared += 1;
                        }
                        None => assert_ne!(theirs[FLAGS] & 2, 0, "{what}: fell back"),
                    }
                }
            }
        }
    }
    eprintln!("{compared} of 48 frames compared; blosc copied the rest verbatim");
    assert!(compared >= 40, "only {compared} frames compared");
    let cfg = lz4(8);
    assert_eq!(
        cfg.encode_tail(&tail_chunk(TAIL_BLOCK, 100), None),
        None,
        "one block: nothing to reuse"
    );
    assert_eq!(
        cfg.encode_tail(&tail_chunk(3 * TAIL_BLOCK + 8, 100), None),
        None,
        "a partial last block"
    );
}

#[test]
fn an_append_reencodes_only_the_blocks_it_touched() {
    if !shuffle::has_fast_kernel(8) {
        return;
    }
    let cfg = lz4(8);
    let len = 1 << 20;
    let before = tail_chunk(len, 300_000);
    let first = cfg.encode_tail(&before, None).unwrap();
    // Rows written inside one block, across a block boundary, and into the fill.
    for changed in [
        300_000..312_800,
        TAIL_BLOCK * 2 - 800..TAIL_BLOCK * 2 + 12_000,
        0..len,
    ] {
        let mut after = before.clone();
        for (i, b) in after[changed.clone()].iter_mut().enumerate() {
            *b = b.wrapping_add(1 + (i % 251) as u8);
        }
        let reused = cfg
            .encode_tail(&after, Some((&first, changed.clone())))
            .unwrap();
        assert!(
            reused == cfg.encode_tail(&after, None).unwrap(),
            "bytes {changed:?} changed"
        );
    }
    // A previous encoding in other blocks is not reused: the whole chunk is encoded.
    let whole = cfg.encode(&before).unwrap();
    let mut after = before.clone();
    after[300_000] = 1;
    assert!(
        cfg.encode_tail(&after, Some((&whole, 300_000..300_001))) == cfg.encode_tail(&after, None),
        "a frame of 1 MiB blocks was taken apart"
    );
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
