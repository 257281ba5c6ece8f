/**
 * The shared inputs: one float64 file every contender reads (so all write the very
 * same bytes), the update positions, and the array the update workload starts from.
 */
import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";

/** A 32-bit integer hash of `i` in [0, 1) (murmur3's finaliser). */
function hash01(i) {
  let t = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  t ^= t >>> 13;
  t = Math.imul(t, 0xc2b2ae35);
  t ^= t >>> 16;
  return (t >>> 0) / 4294967296;
}

/**
 * Value `i` (row-major, 16 columns) of the data: a slow sine per column plus hashed
 * noise, rounded to a multiple of 2^-10 like bit-rounded measurements. Deterministic,
 * not periodic, exactly representable, and compressible without being trivial.
 */
export function valueAt(i) {
  const row = Math.floor(i / 16);
  const col = i % 16;
  return Math.round((Math.sin(row * 0.001 + col) + (hash01(i) - 0.5) * 0.05) * 1024) / 1024;
}

/** Write `count` values to `path` as little-endian float64, in pieces to bound memory. */
export function writeDataFile(path, count) {
  const piece = 1 << 20;
  const buf = new Float64Array(piece);
  const fd = openSync(path, "w");
  try {
    for (let start = 0; start < count; start += piece) {
      const n = Math.min(piece, count - start);
      for (let k = 0; k < n; k++) buf[k] = valueAt(start + k);
      writeSync(fd, new Uint8Array(buf.buffer, 0, n * 8));
    }
  } finally {
    closeSync(fd);
  }
}

/** `rows` rows of `cols` float64 starting at row `offset` of the data file, read without an extra copy. */
export function readRows(path, offset, rows, cols) {
  const out = new Float64Array(rows * cols);
  const bytes = new Uint8Array(out.buffer);
  const fd = openSync(path, "r");
  try {
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, offset * cols * 8 + done);
      if (n === 0) throw new Error(`${path}: ends before ${offset + rows} rows of ${cols}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** mulberry32: a small seeded PRNG, so every run updates the same rows. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct positions in [0, n), in random order (partial Fisher-Yates). */
export function distinctPositions(n, count, seed = 20240601) {
  const rand = mulberry32(seed);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return Array.from(perm.subarray(0, count));
}

export function writeIndicesFile(path, positions) {
  writeFileSync(path, JSON.stringify(positions));
}
