/**
 * Interop: arrays written by ZarrSaver read back equal by zarrita.js.
 *
 * For each Zarr format (3 and 2), each compressor (default Blosc lz4, Blosc
 * zstd, Zstd, GZip, none), each dtype (every numeric dtype, bool and
 * variable-length UTF-8 string; zarrita decodes `vlen-utf8` in both formats)
 * and each rank 1..4, a dataset is built by three appends (5, 4 and 3 rows)
 * with chunks of 2 rows and 2 along every trailing axis, so chunks straddle
 * both append boundaries and edge chunks are partial. One `update` then
 * rewrites rows 3..7, across the first boundary. zarrita's `zarr.get` must
 * return the shape and every element of a plain-JS model of the same saves.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import FileSystemStore from "@zarrita/storage/fs";
import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { Blosc, type CodecConfig, DATA_TYPES, type DataType, GZip, slice, ZarrSaver, Zstd } from "../src/index.js";
import { tempDir } from "./helpers/tmp.js";

type Value = number | bigint | boolean | string;

const DTYPES: readonly DataType[] = DATA_TYPES;

/** `undefined` = leave the option out (the default Blosc lz4). The last entry is the codec name the metadata must show. */
const COMPRESSORS: readonly [string, CodecConfig | null | undefined, string | null][] = [
  ["default (blosc lz4)", undefined, "blosc"],
  ["blosc zstd", new Blosc({ cname: "zstd", clevel: 3 }), "blosc"],
  ["zstd", new Zstd({ level: 3 }), "zstd"],
  ["gzip", new GZip({ level: 5 }), "gzip"],
  ["none", null, null],
];

/** Trailing shapes for rank 1..4; chunks are 2 along every axis, so most trailing axes get a partial edge chunk. */
const TRAILING: readonly number[][] = [[], [3], [2, 3], [2, 2, 3]];
const BATCH_ROWS = [5, 4, 3] as const;
const CHUNK = 2;
const UPDATE = { start: 3, stop: 7 } as const;

/** Values that hit each dtype's edges (min, max, 0, negatives, non-finite floats, -0, unicode). */
const EDGES: Record<DataType, readonly Value[]> = {
  bool: [true, false, false, true, true],
  int8: [-128, 127, 0, -1, 42],
  int16: [-32768, 32767, 0, -300, 1234],
  int32: [-(2 ** 31), 2 ** 31 - 1, 0, -70000, 123456],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 2n ** 53n + 1n],
  uint8: [0, 255, 1, 128, 77],
  uint16: [0, 65535, 1, 40000, 777],
  uint32: [0, 2 ** 32 - 1, 1, 3_000_000_000, 77],
  uint64: [0n, 2n ** 64n - 1n, 1n, 2n ** 63n, 12345678901234567890n],
  float32: [Math.fround(1.1), -0, Number.NaN, Number.POSITIVE_INFINITY, Math.fround(-3.4e38)],
  float64: [0.1, -0, Number.NaN, Number.NEGATIVE_INFINITY, 1.7976931348623157e308],
  string: ["", "a", "héllo wörld", "日本語 🚀", "x".repeat(300)],
};

/** The `i`-th value of a stream of `dtype` values (edges first, then a mix that varies with `i` and `salt`). */
function valueAt(dtype: DataType, i: number, salt: number): Value {
  const edges = EDGES[dtype];
  if (i % 7 < edges.length && salt === 0) return edges[(i + salt) % edges.length] as Value;
  const k = i * 31 + salt * 17;
  switch (dtype) {
    case "bool":
      return (k * 7) % 3 === 0;
    case "int8":
      return (k % 256) - 128;
    case "uint8":
      return k % 256;
    case "int16":
      return ((k * 97) % 65536) - 32768;
    case "uint16":
      return (k * 97) % 65536;
    case "int32":
      return ((k * 2654435761) % 2 ** 32) - 2 ** 31;
    case "uint32":
      return (k * 2654435761) % 2 ** 32;
    case "int64":
      return BigInt(k) * 1_000_000_007n * (k % 2 === 0 ? 1n : -1n);
    case "uint64":
      return BigInt(k) * 1_000_000_000_007n;
    case "float32":
      return Math.fround((k - 50) / 8 + k * 1e-3);
    case "float64":
      return (k - 50) / 3 + k * 1e-9;
    case "string":
      return `s${k}${"é".repeat(k % 4)}`;
  }
}

const TYPED: Partial<Record<DataType, new (values: never[]) => ArrayLike<unknown>>> = {
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** Data for `save`: `{ data, shape }` with a typed array (numeric dtypes keep their dtype) or a JS list (bool, string). */
function batch(dtype: DataType, shape: number[], salt: number): { data: ArrayLike<unknown>; shape: number[]; flat: Value[] } {
  const n = shape.reduce((a, b) => a * b, 1);
  const flat = Array.from({ length: n }, (_, i) => valueAt(dtype, i, salt));
  const Ctor = TYPED[dtype];
  const data = Ctor ? new Ctor(flat as never[]) : flat;
  // float32 values must already be float32 in the model.
  return { data, shape, flat: Ctor ? Array.from(data as ArrayLike<Value>) : flat };
}

async function readWithZarrita(
  root: string,
  name: string,
  format: 2 | 3,
): Promise<{ shape: number[]; data: Value[]; kind: string }> {
  const location = zarr.root(new FileSystemStore(root)).resolve(name);
  const arr = format === 3 ? await zarr.open.v3(location, { kind: "array" }) : await zarr.open.v2(location, { kind: "array" });
  const chunk = await zarr.get(arr);
  return { shape: chunk.shape, data: Array.from(chunk.data as Iterable<Value>), kind: (chunk.data as object).constructor.name };
}

/** The compressor the written metadata names (v3: the bytes-to-bytes codec; v2: `compressor.id`), and its Blosc cname. */
function writtenCompressor(root: string, name: string, format: 2 | 3): { id: string | null; cname?: unknown } {
  if (format === 2) {
    const meta = JSON.parse(readFileSync(join(root, name, ".zarray"), "utf8"));
    return meta.compressor === null ? { id: null } : { id: meta.compressor.id, cname: meta.compressor.cname };
  }
  const meta = JSON.parse(readFileSync(join(root, name, "zarr.json"), "utf8"));
  const codecs = meta.codecs as { name: string; configuration?: Record<string, unknown> }[];
  const last = codecs.at(-1) as { name: string; configuration?: Record<string, unknown> };
  return ["bytes", "vlen-utf8"].includes(last.name) ? { id: null } : { id: last.name, cname: last.configuration?.cname };
}

/** Element-wise comparison that treats NaN as NaN and tells -0 from 0; reports the first difference. */
function firstDifference(actual: Value[], expected: Value[]): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) return `flat index ${i}: ${String(actual[i])} != ${String(expected[i])}`;
  }
  return undefined;
}

describe.each([3, 2] as const)("zarr format %i read by zarrita", (format) => {
  describe.each(COMPRESSORS)("compressor %s", (label, compressor, codecName) => {
    it.each(DTYPES)("%s, rank 1 to 4: three appends and an update", async (dtype) => {
      const root = tempDir("zarr-saver-interop-");
      for (const trailing of TRAILING) {
        const name = `${dtype}_${trailing.length + 1}d`;
        const rowSize = trailing.reduce((a, b) => a * b, 1);
        const model: Value[] = [];
        const appender = new ZarrSaver(root, { datasetName: name });
        for (const [b, rows] of BATCH_ROWS.entries()) {
          const { data, shape, flat } = batch(dtype, [rows, ...trailing], b);
          const options = {
            chunks: [CHUNK, ...trailing.map(() => CHUNK)],
            zarrFormat: format,
            ...(compressor === undefined ? {} : { compressor }),
          };
          // Creation options only matter on the first save; passing them again must be harmless.
          const result = b % 2 === 0 ? await appender.save({ data, shape }, options) : appender.saveSync({ data, shape });
          model.push(...flat);
          expect(result.dtype).toBe(dtype);
          expect(result.shape).toEqual([model.length / rowSize, ...trailing]);
        }
        const total = model.length / rowSize;
        expect(total).toBe(12);

        const rows = UPDATE.stop - UPDATE.start;
        const update = batch(dtype, [rows, ...trailing], 9);
        const result = await new ZarrSaver(root, { datasetName: name, approach: "update" }).save(
          { data: update.data, shape: update.shape },
          { indices: slice(UPDATE.start, UPDATE.stop) },
        );
        expect(result.shape).toEqual([total, ...trailing]);
        model.splice(UPDATE.start * rowSize, rows * rowSize, ...update.flat);

        // The dataset really uses the compressor under test (no silent fallback).
        const written = writtenCompressor(root, name, format);
        expect(written.id, name).toBe(codecName);
        if (codecName === "blosc") expect(written.cname, name).toBe(label === "blosc zstd" ? "zstd" : "lz4");

        const read = await readWithZarrita(root, name, format);
        expect(read.shape, name).toEqual([total, ...trailing]);
        // zarrita decodes to the container of the stored dtype (Int8Array for int8, BoolArray for bool, ...).
        expect(read.kind, name).toBe(TYPED[dtype]?.name ?? (dtype === "bool" ? "BoolArray" : "Array"));
        expect(firstDifference(read.data, model), name).toBeUndefined();
      }
    });
  });
});

describe("zarrita reads what it is given in every data form", () => {
  it("nested arrays, arrays of typed arrays and bigints round-trip through zarrita", async () => {
    const root = tempDir("zarr-saver-interop-");
    const nested = new ZarrSaver(root, { datasetName: "nested" });
    await nested.save([
      [1.5, 2.5],
      [3.5, 4.5],
    ]);
    await nested.save([new Float64Array([5.5, 6.5])]);
    expect(await readWithZarrita(root, "nested", 3)).toMatchObject({ shape: [3, 2], data: [1.5, 2.5, 3.5, 4.5, 5.5, 6.5] });

    const bigints = new ZarrSaver(root, { datasetName: "group/big" });
    await bigints.save([1n, -2n, 3n], { chunks: [2] });
    await bigints.save([2n ** 62n]);
    expect(await readWithZarrita(root, "group/big", 3)).toEqual({
      shape: [4],
      data: [1n, -2n, 3n, 2n ** 62n],
      kind: "BigInt64Array",
    });

    const cast = new ZarrSaver(root, { datasetName: "cast" });
    await cast.save([1, 2, 3], { dtype: "uint16", chunks: [2] });
    await cast.save([65535]);
    const read = await readWithZarrita(root, "cast", 3);
    expect(read).toEqual({ shape: [4], data: [1, 2, 3, 65535], kind: "Uint16Array" });
  });

  it("appends into 1 MiB chunks (stored in 128 KiB blosc blocks, partly reused) round-trip through zarrita", async () => {
    const root = tempDir("zarr-saver-interop-");
    const saver = new ZarrSaver(root, { datasetName: "tail" });
    const cols = 16;
    let rows = 0;
    for (const n of [100, 1500, 1, 700, 6000, 100, 2000]) {
      const data = Float64Array.from({ length: n * cols }, (_, k) => (rows * cols + k) * 0.25);
      await saver.save({ data, shape: [n, cols] }, { chunks: [8192, cols] });
      rows += n;
    }
    const expected = Array.from({ length: rows * cols }, (_, k) => k * 0.25);
    expect(await readWithZarrita(root, "tail", 3)).toEqual({ shape: [rows, cols], data: expected, kind: "Float64Array" });
  });

  it("a v3 sharded array round-trips through zarrita", async () => {
    const root = tempDir("zarr-saver-interop-");
    const saver = new ZarrSaver(root, { datasetName: "sharded" });
    const first = Array.from({ length: 7 }, (_, i) => [i, i + 0.5, -i]);
    const second = Array.from({ length: 6 }, (_, i) => [100 + i, 0.25, i * i]);
    await saver.save(first, { chunks: [2, 3], shards: [4, 3] });
    await saver.save(second);
    await new ZarrSaver(root, { datasetName: "sharded", approach: "update" }).save([[-1, -1, -1]], { indices: 6 });
    const expected = [...first.slice(0, 6), [-1, -1, -1], ...second].flat();
    expect(await readWithZarrita(root, "sharded", 3)).toEqual({ shape: [13, 3], data: expected, kind: "Float64Array" });
  });
});
