/**
 * One scenario for every object store: append (1-d and 2-d), overwrite, update (a list
 * with a negative index, a stepped slice, an orthogonal selection) and saveSync, written
 * with `saver(name, options)` and checked against what an independent reader returned.
 */
import { expect } from "vitest";
import { type SaveOptions, slice, type ZarrSaver, type ZarrSaverOptions } from "../../src/index.js";

/** What the reader returns for one array: metadata, values, and the object keys under it. */
export interface ReadBack {
  shape: number[];
  dtype: string;
  format: number;
  values: unknown;
  keys: string[];
}

export const range = (n: number, f: (i: number) => number = (i) => i): number[] => Array.from({ length: n }, (_, i) => f(i));
export const rows = (n: number, cols: number, f: (r: number, c: number) => number): number[][] =>
  range(n).map((r) => range(cols, (c) => f(r, c)));

/** The arrays `writeRoundTrip` leaves, by name. */
export const ROUND_TRIP_NAMES = ["a1", "a2", "ow", "u1", "u2", "sync"];

/** Write the scenario's arrays in Zarr `zarrFormat`. */
export async function writeRoundTrip(
  saver: (datasetName: string, options?: ZarrSaverOptions) => ZarrSaver,
  zarrFormat: 2 | 3,
): Promise<void> {
  const create: SaveOptions = { zarrFormat };
  // append, 1-d float64: three batches over chunks of 4
  const a1 = saver("a1");
  await a1.save(
    range(5, (i) => i / 2),
    { ...create, chunks: [4] },
  );
  await a1.save(range(7, (i) => (i + 5) / 2));
  await a1.save([6]);
  // append, 2-d int32 from typed arrays
  const a2 = saver("a2");
  const block = (start: number, n: number) => ({ data: Int32Array.from(range(n * 3, (i) => start * 3 + i - 40)), shape: [n, 3] });
  await a2.save(block(0, 3), { ...create, chunks: [2, 3] });
  await a2.save(block(3, 1));
  await a2.save(block(4, 4));
  // overwrite: a 1-d float64 array replaced by a 2-d uint16 one
  await saver("ow").save(range(30), { ...create, chunks: [5] });
  await saver("ow", { approach: "overwrite" }).save(OVERWRITTEN, { ...create, dtype: "uint16", chunks: [2, 3] });
  // update, 1-d int64: a list with a negative index, then a stepped slice
  await saver("u1").save(range(20).map(BigInt), { ...create, chunks: [8] });
  const u1 = saver("u1", { approach: "update" });
  await u1.save([100n, 200n], { indices: [3, -1] });
  await u1.save([7n, 8n, 9n], { indices: slice(4, 10, 2) });
  // update, 2-d float32: an orthogonal selection
  await saver("u2").save(
    rows(4, 5, (r, col) => r * 5 + col),
    { ...create, dtype: "float32", chunks: [3, 2] },
  );
  const corners = rows(2, 2, (r, col) => -(2 * r + col + 1));
  await saver("u2", { approach: "update" }).save(corners, { indices: { axes: [[0, 2], slice(1, 3)] } });
  // saveSync: create and append without the thread pool
  const sync = saver("sync");
  expect(sync.saveSync([1, 2], { ...create, chunks: [2] }).shape).toEqual([2]);
  expect(sync.saveSync([3]).region).toEqual([[2, 3]]);
}

const OVERWRITTEN = rows(5, 3, (r, col) => 1000 * r + col);

/** Every array read back equal, no lease or temporary object left, no stale chunk after overwrite. */
export function expectRoundTrip(got: Record<string, ReadBack>, zarrFormat: 2 | 3): void {
  const expected: Record<string, [number[], string, unknown]> = {
    a1: [[13], "float64", range(13, (i) => i / 2)],
    a2: [[8, 3], "int32", rows(8, 3, (r, col) => r * 3 + col - 40)],
    ow: [[5, 3], "uint16", OVERWRITTEN],
    u1: [[20], "int64", range(20).map((i) => ({ 3: 100, 19: 200, 4: 7, 6: 8, 8: 9 })[i] ?? i)],
    u2: [[4, 5], "float32", rows(4, 5, (r, col) => (r % 2 === 0 && col >= 1 && col < 3 ? -(r + col) : r * 5 + col))],
    sync: [[3], "float64", [1, 2, 3]],
  };
  for (const [name, [shape, dtype, values]] of Object.entries(expected)) {
    const read = got[name] as ReadBack;
    const { shape: s, dtype: d, format, values: v } = read;
    expect({ name, s, d, format, v }).toEqual({ name, s: shape, d: dtype, format: zarrFormat, v: values });
    expect(
      read.keys.filter((k) => k.includes(".zarr-saver")),
      name,
    ).toEqual([]);
  }
  const chunkKeys = (got.ow as ReadBack).keys.filter((k) => !/(^|\/)(zarr\.json|\.zarray|\.zattrs)$/.test(k));
  expect(chunkKeys).toEqual(zarrFormat === 3 ? ["c/0/0", "c/1/0", "c/2/0"] : ["0.0", "1.0", "2.0"]);
}

/**
 * The append log `writers` processes x `batches` saves wrote (s3-append-writer.mjs):
 * every batch present once, whole and contiguous, each writer's batches in order.
 */
export function expectEveryBatchOnce(read: ReadBack, writers: number, batches: number): void {
  const table = read.values as number[][];
  const seen = new Set<string>();
  const lastBatch = range(writers, () => -1);
  for (let i = 0; i < table.length; ) {
    const [w, k, , n] = table[i] as [number, number, number, number];
    expect(n, `row ${i}`).toBe(1 + ((3 * w + 2 * k) % 5));
    expect(table.slice(i, i + n), `batch ${w}/${k} at row ${i}`).toEqual(range(n).map((j) => [w, k, j, n]));
    expect(seen.has(`${w}/${k}`), `batch ${w}/${k} twice`).toBe(false);
    seen.add(`${w}/${k}`);
    expect(k, `writer ${w} order`).toBe((lastBatch[w] as number) + 1);
    lastBatch[w] = k;
    i += n;
  }
  expect(seen.size).toBe(writers * batches);
  expect(read.shape).toEqual([table.length, 4]);
  expect(read.keys.filter((k) => k.includes(".zarr-saver"))).toEqual([]);
}
