/**
 * Interop with tensorstore, a reader that shares no code with zarrs or zarr-python:
 * its `zarr3` driver opens the v3 arrays and its `zarr` driver the v2 ones, on the
 * `file` kvstore. Everything is written first, then ONE Python run opens and reads
 * every array; each test compares what tensorstore reports (shape, dtype, every
 * value, NaN as NaN) with a plain-JS model of the saves.
 *
 * Covered: every dtype tensorstore has (bool, int8..int64, uint8..uint64, float32,
 * float64) x each codec (the default Blosc lz4 with byte shuffle, whose frames our own
 * encoder writes; zstd; gzip; none) x v2, v3 and v3 sharded, each appended in three
 * saves that leave partial chunks; long append series into large Blosc chunks;
 * orthogonal updates; NaN fill values; chunks and inner chunks never written because
 * they hold only the fill value. Variable-length strings: tensorstore has no such dtype in either
 * driver (v3 `string` is "not one of the supported data types", v2 `|O` is an
 * "Unsupported zarr dtype"), so their tests hold it to exactly that refusal, and
 * compare the values should a later tensorstore read them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CodecConfig, DATA_TYPES, type DataType, GZip, type SaveOptions, slice, ZarrSaver, Zstd } from "../src/index.js";
import { runPython } from "./helpers/python.js";
import { settleFiles, tempDir } from "./helpers/tmp.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Scalar = number | bigint | boolean | string;
type Numeric = Exclude<DataType, "bool" | "string">;

/** What tensorstore reports for one array, or the error it raised. */
interface TsArray {
  error?: string;
  shape: number[];
  dtype: string;
  values: Json;
  fill_value: Json;
}

/** Where a dataset lives, how it is laid out, and the model of what a reader must see. */
interface Case {
  key: string;
  format: 2 | 3;
  path: string;
  dtype: DataType;
  shape: number[];
  expected: Json[];
  fill?: Json;
  error?: unknown;
}

const LAYOUTS = ["v2", "v3", "v3-sharded"] as const;
type Layout = (typeof LAYOUTS)[number];
/** Every dtype tensorstore has; `string` is checked on its own below. */
const DTYPES = DATA_TYPES.filter((d): d is Exclude<DataType, "string"> => d !== "string");
/** `undefined` leaves the option out: the default Blosc lz4 with byte shuffle. */
const CODECS: readonly [string, CodecConfig | null | undefined][] = [
  ["blosc-lz4", undefined],
  ["zstd", new Zstd({ level: 3 })],
  ["gzip", new GZip({ level: 5 })],
  ["none", null],
];
/** Trailing shapes, by dtype position: ranks 1 to 3. */
const TAILS: readonly number[][] = [[], [3], [2, 3]];
const BATCHES = [4, 3, 2] as const;

const TYPED: Record<Numeric, { from(values: Iterable<unknown>): ArrayLike<unknown> }> = {
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array as never,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array as never,
  float32: Float32Array,
  float64: Float64Array,
};
const INT_RANGE: Record<string, [bigint, bigint]> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};
const STRINGS = ["", "é", "日本語", "🦀 crab", "tab\there"];

/** Deterministic values of `dtype` (extremes, NaN, infinities, -0, subnormals, unicode), starting at `seed`. */
function values(dtype: DataType, n: number, seed: number): Scalar[] {
  return Array.from({ length: n }, (_, j): Scalar => {
    const i = j + seed;
    if (dtype === "bool") return i % 3 === 0;
    if (dtype === "string") return i % 6 === 5 ? `s${i}`.repeat(i % 9) : (STRINGS[i % 5] as string);
    if (dtype === "float32")
      return [Number.NaN, Number.NEGATIVE_INFINITY, 3.4028234663852886e38, -0][i % 7] ?? Math.fround((i - 7) * 0.1);
    if (dtype === "float64")
      return [Number.NaN, Number.POSITIVE_INFINITY, -0, 5e-324, -1.7976931348623157e308][i % 8] ?? (i - 9) * Math.PI;
    const [lo, hi] = INT_RANGE[dtype] as [bigint, bigint];
    const v = i % 5 === 0 ? lo : i % 5 === 1 ? hi : lo + ((BigInt(i) * 0x9e3779b97f4a7c15n) % (hi - lo + 1n));
    return dtype.endsWith("64") ? v : Number(v);
  });
}

/** The JSON form the Python reader prints: 64-bit integers as strings, non-finite floats by name. */
function json(v: Scalar): Json {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  return v;
}

/** Flat C-order values -> nested arrays of `shape`. */
function nest(flat: readonly unknown[], shape: readonly number[]): unknown {
  const [n, ...rest] = shape as [number, ...number[]];
  if (rest.length === 0) return flat.slice(0, n);
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => nest(flat.slice(i * size, (i + 1) * size), rest));
}

/** Data as the saver takes it: typed arrays with a shape for numbers, nested lists for bool and string. */
function input(dtype: DataType, flat: Scalar[], shape: number[]) {
  if (dtype === "bool" || dtype === "string") return nest(flat, shape) as boolean[];
  return { data: TYPED[dtype].from(flat) as Float64Array, shape };
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** tensorstore opens each array with the driver of its format and prints what it read as JSON. */
const PY_READ = `
import json, math, sys
import tensorstore as ts
req = json.loads(sys.argv[1])
def enc(x, big):
    if isinstance(x, list): return [enc(v, big) for v in x]
    if isinstance(x, bool): return x
    if isinstance(x, int): return str(x) if big else x
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity") if math.isinf(x) else x
    return x
out = {}
for key, driver, path in req:
    try:
        t = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": path}}, open=True, read=True).result()
        a = t.read().result()
        big = a.dtype.kind in "iu" and a.dtype.itemsize == 8
        fill = t.fill_value
        out[key] = {"shape": list(t.shape), "dtype": t.dtype.name, "values": enc(a.tolist(), big),
                    "fill_value": None if fill is None else enc(fill.tolist(), big)}
    except Exception as e:
        out[key] = {"error": str(e).split(" [tensorstore_spec=")[0]}
print(json.dumps(out))
`;

// ---------------------------------------------------------------- writing everything

const root = tempDir("zarr-tensorstore-");
const STORE = { 2: join(root, "v2.zarr"), 3: join(root, "v3.zarr") } as const;
const cases: Case[] = [];
let report: Record<string, TsArray>;

/** Run `write`, which returns the shape and flat values a reader must see; a throw is kept for the case's test. */
async function record(
  c: Omit<Case, "shape" | "expected">,
  write: () => Promise<{ shape: number[]; expected: Json[] }>,
): Promise<void> {
  const entry: Case = { ...c, shape: [], expected: [] };
  cases.push(entry);
  try {
    Object.assign(entry, await write());
  } catch (error) {
    entry.error = error;
  }
}

/** Append `batches` (rows per save) of generated values; return the model. */
async function appendBatches(
  saver: ZarrSaver,
  dtype: DataType,
  tail: readonly number[],
  batches: readonly number[],
  first: SaveOptions,
  seed = 0,
) {
  const expected: Json[] = [];
  let rows = 0;
  for (const [b, n] of batches.entries()) {
    const shape = [n, ...tail];
    const flat = values(dtype, size(shape), seed + rows * size(tail));
    const res = await saver.save(input(dtype, flat, shape), { ...(b === 0 ? first : {}), dtype });
    expect(res.region[0]).toEqual([rows, rows + n]);
    rows += n;
    expected.push(...flat.map(json));
  }
  return { shape: [rows, ...tail], expected };
}

/** Creation options of a layout: chunks of 4 rows and one less than each trailing axis; shards twice that. */
function layoutOptions(layout: Layout, tail: readonly number[]): SaveOptions {
  const chunks = [4, ...tail.map((n) => Math.max(1, n - 1))];
  return {
    zarrFormat: layout === "v2" ? 2 : 3,
    chunks,
    ...(layout === "v3-sharded" ? { shards: chunks.map((c) => 2 * c) } : {}),
  };
}

async function writeMatrix(): Promise<void> {
  for (const layout of LAYOUTS) {
    const format = layout === "v2" ? 2 : 3;
    for (const [d, dtype] of DTYPES.entries()) {
      for (const [label, codec] of CODECS) {
        const tail = TAILS[d % TAILS.length] as number[];
        const path = `${layout}/${dtype}_${label}`;
        const first = { ...layoutOptions(layout, tail), ...(codec === undefined ? {} : { compressor: codec }) };
        await record({ key: path, format, path, dtype }, () =>
          appendBatches(new ZarrSaver(STORE[format], { datasetName: path }), dtype, tail, BATCHES, first, 11 * d),
        );
      }
    }
  }
}

/** Many saves in a row into large chunks: the tail chunk's Blosc frame is patched block by block. */
async function writeLongAppends(): Promise<void> {
  for (const layout of LAYOUTS) {
    const format = layout === "v2" ? 2 : 3;
    const path = `${layout}/long`;
    await record({ key: path, format, path, dtype: "float64" }, async () => {
      const saver = new ZarrSaver(STORE[format], { datasetName: path });
      const cols = 16;
      const expected: Json[] = [];
      let rows = 0;
      for (const [i, n] of [100, 700, 1, 333, 2000, 1, 700, 100, 2000, 100, 7].entries()) {
        const data = Float64Array.from({ length: n * cols }, (_, k) => (rows * cols + k) * 0.5 - 1000);
        const first: SaveOptions = {
          zarrFormat: format,
          chunks: [layout === "v3-sharded" ? 1024 : 8192, cols],
          ...(layout === "v3-sharded" ? { shards: [4096, cols] } : {}),
        };
        await saver.save({ data, shape: [n, cols] }, i === 0 ? first : {});
        expected.push(...data);
        rows += n;
      }
      return { shape: [rows, cols], expected };
    });
  }
}

/** An orthogonal update: rows in any order (one negative) x every other column. */
const UPDATE_DTYPES = ["int16", "float32", "uint64"] as const;

async function writeUpdates(): Promise<void> {
  for (const layout of LAYOUTS) {
    const format = layout === "v2" ? 2 : 3;
    for (const dtype of UPDATE_DTYPES) {
      const path = `${layout}/update_${dtype}`;
      await record({ key: path, format, path, dtype }, async () => {
        const out = await appendBatches(
          new ZarrSaver(STORE[format], { datasetName: path }),
          dtype,
          [5],
          [4, 3],
          layoutOptions(layout, [5]),
        );
        const rows = [5, 0, -1];
        const cols = [0, 2, 4];
        const data = values(dtype, rows.length * cols.length, 1000);
        await new ZarrSaver(STORE[format], { datasetName: path, approach: "update" }).save(
          input(dtype, data, [rows.length, cols.length]),
          { indices: { axes: [rows, slice(null, null, 2)] } },
        );
        rows.forEach((r, i) => {
          cols.forEach((c, j) => {
            out.expected[((r + 7) % 7) * 5 + c] = json(data[i * cols.length + j] as Scalar);
          });
        });
        return out;
      });
    }
  }
}

/**
 * Fill values, and regions never written: a chunk (an inner chunk, sharded) that holds
 * only the fill value is not stored, so the reader must make it up from the metadata.
 */
const FILL_CASES = [
  { dtype: "float32", fillValue: Number.NaN },
  { dtype: "float64", fillValue: Number.NaN },
  { dtype: "int32", fillValue: -7 },
  { dtype: "uint64", fillValue: 2n ** 64n - 1n },
] as const;

async function writeFillCases(): Promise<void> {
  for (const layout of LAYOUTS) {
    const format = layout === "v2" ? 2 : 3;
    for (const f of FILL_CASES) {
      const path = `${layout}/fill_${f.dtype}`;
      await record({ key: path, format, path, dtype: f.dtype, fill: json(f.fillValue) }, async () => {
        // Rows 4..7 (the second chunk of rows) hold only the fill value.
        const cols = 3;
        const flat = values(f.dtype, 12 * cols, 3).map((v, i): Scalar => (i >= 4 * cols && i < 8 * cols ? f.fillValue : v));
        const saver = new ZarrSaver(STORE[format], { datasetName: path });
        await saver.save(input(f.dtype, flat.slice(0, 6 * cols), [6, cols]), {
          zarrFormat: format,
          chunks: [4, cols],
          ...(layout === "v3-sharded" ? { shards: [8, cols] } : {}),
          fillValue: f.fillValue,
        });
        await saver.save(input(f.dtype, flat.slice(6 * cols), [6, cols]));
        return { shape: [12, cols], expected: flat.map(json) };
      });
    }
  }
}

/** Variable-length strings, both formats. */
async function writeStrings(): Promise<void> {
  for (const layout of ["v2", "v3"] as const) {
    const format = layout === "v2" ? 2 : 3;
    const path = `${layout}/string`;
    await record({ key: path, format, path, dtype: "string" }, () =>
      appendBatches(new ZarrSaver(STORE[format], { datasetName: path }), "string", [2], BATCHES, layoutOptions(layout, [2])),
    );
  }
}

beforeAll(async () => {
  await writeMatrix();
  await writeLongAppends();
  await writeUpdates();
  await writeFillCases();
  await writeStrings();
  settleFiles();
  const request = cases.map((c) => [c.key, c.format === 3 ? "zarr3" : "zarr", join(STORE[c.format], c.path)]);
  report = runPython<Record<string, TsArray>>(PY_READ, [JSON.stringify(request)]);
});

// ---------------------------------------------------------------- tests

const byKey = (key: string): Case => {
  const c = cases.find((x) => x.key === key);
  if (!c) throw new Error(`no case ${key}`);
  return c;
};

function checkCase(c: Case): void {
  if (c.error) throw c.error;
  expect(c.expected).toHaveLength(size(c.shape));
  const a = report[c.key] as TsArray;
  expect(a.error, `tensorstore failed to read ${c.key}`).toBeUndefined();
  expect(a.shape).toEqual(c.shape);
  expect(a.dtype).toBe(c.dtype);
  expect(([a.values] as unknown[]).flat(Number.POSITIVE_INFINITY)).toEqual(c.expected);
  if (c.fill !== undefined) expect(a.fill_value).toEqual(c.fill);
}

describe("tensorstore reads every dtype x codec, appended in three saves", () => {
  for (const layout of LAYOUTS) {
    for (const key of DTYPES.flatMap((d) => CODECS.map(([label]) => `${layout}/${d}_${label}`))) {
      // v2 zstd included: numcodecs' config is {"id", "level"} when there is no
      // checksum, and tensorstore refuses a member it does not expect.
      it(key, () => checkCase(byKey(key)));
    }
  }
});

describe("tensorstore reads long append series into large Blosc chunks", () => {
  it.each(LAYOUTS.map((l) => `${l}/long`))("%s", (key) => checkCase(byKey(key)));
});

describe("tensorstore reads orthogonal updates", () => {
  it.each(LAYOUTS.flatMap((l) => UPDATE_DTYPES.map((d) => `${l}/update_${d}`)))("%s", (key) => checkCase(byKey(key)));
});

describe("tensorstore reads fill values and regions never written", () => {
  it.each(LAYOUTS.flatMap((l) => FILL_CASES.map((f) => `${l}/fill_${f.dtype}`)))("%s", (key) => {
    const c = byKey(key);
    checkCase(c);
    // The second chunk of rows was never stored: no chunk file, or, sharded, no entry in
    // the shard's index (offset and size all ones; the index is at the end, before its CRC32C).
    const dir = join(STORE[c.format], c.path);
    if (key.startsWith("v2/")) expect(existsSync(join(dir, "1.0"))).toBe(false);
    else if (key.startsWith("v3/")) expect(existsSync(join(dir, "c", "1", "0"))).toBe(false);
    else {
      const shard = readFileSync(join(dir, "c", "0", "0"));
      const entry = (i: number) => shard.readBigUInt64LE(shard.length - 4 - 32 + 16 * i);
      expect(entry(0)).not.toBe(2n ** 64n - 1n);
      expect(entry(1)).toBe(2n ** 64n - 1n);
    }
  });
});

// tensorstore has no variable-length string dtype in either driver: it refuses our
// v3 `string` + `vlen-utf8` and v2 `|O` + `vlen-utf8` arrays at open, on the data type
// alone (zarr-python and zarrita.js read both). Hold it to that refusal; should a later
// tensorstore read them, the values must then be exact.
describe("strings: tensorstore refuses the dtype, or reads the values exactly", () => {
  const REFUSAL: Record<string, RegExp> = {
    "v3/string": /"data_type": string data type is not one of the supported data types/,
    "v2/string": /"dtype": Unsupported zarr dtype: "\|O"/,
  };
  it.each(Object.keys(REFUSAL))("%s", (key) => {
    const c = byKey(key);
    if (c.error) throw c.error;
    const a = report[key] as TsArray;
    if (a.error !== undefined) expect(a.error).toMatch(REFUSAL[key] as RegExp);
    else {
      expect(a.shape).toEqual(c.shape);
      expect(([a.values] as unknown[]).flat(Number.POSITIVE_INFINITY)).toEqual(c.expected);
    }
  });
});
