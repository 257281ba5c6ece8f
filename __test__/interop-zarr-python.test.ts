/**
 * Interop with the real zarr-python 3, both ways. Everything is written first
 * (JS saves, plus one Python run that creates arrays with zarr-python's own
 * defaults), then ONE Python run reads every array and lists the groups; the
 * tests compare that report with what was written. A save that throws is kept
 * and fails only the test of its dataset.
 */
import { readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Blosc,
  type CodecConfig,
  DATA_TYPES,
  type DataType,
  GZip,
  type SaveData,
  type SaveOptions,
  slice,
  ZarrSaver,
  Zstd,
} from "../src/index.js";
import { runPython } from "./helpers/python.js";
import { tempDir } from "./helpers/tmp.js";

// ---------------------------------------------------------------- helpers

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Scalar = number | bigint | boolean | string;
type Numeric = Exclude<DataType, "bool" | "string">;

/** What the Python reader reports for one array (or the error it raised). */
interface PyArray {
  error?: string;
  shape: number[];
  dtype: string;
  values: Json;
  fill_value: Json;
  attrs: Record<string, Json>;
  dimension_names: (string | null)[] | null;
  compressors: Record<string, Json>[];
  meta: Record<string, Json>;
}
interface PyReport {
  arrays: Record<string, PyArray>;
  groups: Record<string, { arrays?: string[]; groups?: string[]; error?: string }>;
}
/** One dataset to check: where it is, what zarr-python must see, and the save error if one threw. */
interface Case {
  key: string;
  store: string;
  path: string;
  dtype: DataType;
  shape: number[];
  expected: Json[];
  error?: unknown;
  check?: (a: PyArray) => void;
}

const DTYPES: readonly DataType[] = DATA_TYPES;
const TYPED: Record<Numeric, { from(values: Iterable<unknown>): SaveData & ArrayLike<unknown> }> = {
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

/** Deterministic values of `dtype` (extremes, NaN, infinities, -0, unicode), starting at `seed`. */
function values(dtype: DataType, n: number, seed: number): Scalar[] {
  return Array.from({ length: n }, (_, j): Scalar => {
    const i = j + seed;
    if (dtype === "bool") return i % 3 === 0;
    if (dtype === "string") return i % 6 === 5 ? `s${i}`.repeat(i % 9) : (STRINGS[i % 5] as string);
    if (dtype === "float32")
      return [Number.NaN, Number.NEGATIVE_INFINITY, 3.4028234663852886e38][i % 6] ?? Math.fround((i - 7) * 0.1);
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

/** Flat C-order values -> nested arrays of `shape`; `leaf` turns each innermost row into something else. */
function nest(flat: readonly unknown[], shape: readonly number[], leaf: (row: unknown[]) => unknown = (r) => r): unknown {
  const [n, ...rest] = shape as [number, ...number[]];
  if (rest.length === 0) return leaf(flat.slice(0, n));
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => nest(flat.slice(i * size, (i + 1) * size), rest, leaf));
}

type Form = "typed" | "rows" | "ndarray" | "nested";
/** Data in one of the accepted input forms; bool and string are always nested JS arrays. */
function input(dtype: DataType, flat: Scalar[], shape: number[], form: Form): SaveData {
  if (dtype === "bool" || dtype === "string" || form === "nested") return nest(flat, shape) as SaveData;
  const T = TYPED[dtype];
  if (form === "rows") return nest(flat, shape, (row) => T.from(row)) as SaveData;
  if (form === "typed" && shape.length === 1) return T.from(flat);
  return { data: T.from(flat) as never, shape };
}

/** Expected flat values after writing `rows` (positions on axis 0) of a C-order array with `rowSize` elements per row. */
function setRows(flat: Json[], rowSize: number, rows: number[], data: Scalar[]): void {
  rows.forEach((r, k) => {
    for (let j = 0; j < rowSize; j++) flat[r * rowSize + j] = json(data[k * rowSize + j] as Scalar);
  });
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Compressor specs with what zarr-python must report for them in format 2 and 3. */
const COMPRESSORS: {
  label: string;
  option: CodecConfig | null | undefined;
  v2: Record<string, Json> | null;
  v3: Record<string, Json> | null;
}[] = [
  {
    label: "default",
    option: undefined,
    v2: { name: "blosc", cname: "lz4", clevel: 5 },
    v3: { name: "blosc", cname: "lz4", clevel: 5 },
  },
  {
    label: "blosc-zstd",
    option: new Blosc({ cname: "zstd", clevel: 3, shuffle: 2 }),
    v2: { name: "blosc", cname: "zstd", clevel: 3, shuffle: 2 },
    v3: { name: "blosc", cname: "zstd", clevel: 3, shuffle: "bitshuffle" },
  },
  { label: "zstd", option: new Zstd({ level: 3 }), v2: { name: "zstd", level: 3 }, v3: { name: "zstd", level: 3 } },
  { label: "gzip", option: new GZip({ level: 5 }), v2: { name: "gzip", level: 5 }, v3: { name: "gzip", level: 5 } },
  { label: "none", option: null, v2: null, v3: null },
  {
    label: "v3-zstd",
    option: { name: "zstd", configuration: { level: 1, checksum: false } },
    v2: { name: "zstd", level: 1 },
    v3: { name: "zstd", level: 1, checksum: false },
  },
];

const PY_STRING_DTYPE = "StringDType()"; // str(arr.dtype) of a variable-length string array under numpy 2

const PY_READ = `
import json, math, sys, warnings
import numpy as np, zarr
warnings.simplefilter("ignore")
req = json.loads(sys.argv[1])
def enc(x, big):
    if isinstance(x, list): return [enc(v, big) for v in x]
    if isinstance(x, (bool, np.bool_)): return bool(x)
    if isinstance(x, (int, np.integer)): return str(int(x)) if big else int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity") if math.isinf(x) else x
    return x
def codec(c):
    if hasattr(c, "get_config"):
        cfg = dict(c.get_config()); return {"name": cfg.pop("id"), **cfg}
    d = c.to_dict(); return {"name": d["name"], **d.get("configuration", {})}
arrays = {}
for key, store, path in req["arrays"]:
    try:
        a = zarr.open_array(store=store, path=path, mode="r")
        big = a.dtype.kind in "iu" and a.dtype.itemsize == 8
        meta = a.metadata.to_dict(); meta.pop("fill_value", None)
        arrays[key] = {"shape": list(a.shape), "dtype": str(a.dtype), "values": enc(a[...].tolist(), big),
            "fill_value": enc(a.fill_value.item() if hasattr(a.fill_value, "item") else a.fill_value, big),
            "attrs": dict(a.attrs), "compressors": [codec(c) for c in a.compressors],
            "dimension_names": getattr(a.metadata, "dimension_names", None), "meta": meta}
    except Exception as e:
        arrays[key] = {"error": repr(e)}
groups = {}
for store in req["groups"]:
    try:
        members = list(zarr.open_group(store, mode="r").members(max_depth=None))
        groups[store] = {"arrays": sorted(k for k, v in members if isinstance(v, zarr.Array)),
                         "groups": sorted(k for k, v in members if isinstance(v, zarr.Group))}
    except Exception as e:
        groups[store] = {"error": repr(e)}
print(json.dumps({"arrays": arrays, "groups": groups}, default=str))
`;

/** zarr-python creates arrays with its own defaults; prints each array's metadata minus shape. */
const PY_CREATE = `
import json, sys, numpy as np, numcodecs, zarr
root = sys.argv[1]
made = {}
def keep(key, a):
    m = a.metadata.to_dict(); m.pop("shape"); m.pop("fill_value"); made[key] = m
a = zarr.create_array(store=root + "/py3.zarr", name="i32", shape=(4, 3), chunks=(3, 2), dtype="int32",
                      dimension_names=["t", "c"], attributes={"origin": "python"})
a[...] = np.arange(12, dtype="int32").reshape(4, 3); keep("py3/i32", a)
for fmt in (3, 2):
    s = zarr.create_array(store=f"{root}/py{fmt}.zarr", name="str", shape=(4,), chunks=(3,), dtype=str, zarr_format=fmt)
    s[...] = ["p0", "p1", "p2", "p3"]; keep(f"py{fmt}/str", s)
f = zarr.create_array(store=root + "/py2.zarr", name="f64", shape=(5,), chunks=(3,), dtype="float64", zarr_format=2)
f[...] = np.arange(5) * 0.5; keep("py2/f64", f)
u = zarr.create_array(store=root + "/py2blosc.zarr", name="u16", shape=(4, 3), chunks=(3, 2), dtype="uint16", zarr_format=2,
                      compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1))
u[...] = np.arange(12, dtype="uint16").reshape(4, 3) * 5000; keep("py2blosc/u16", u)
print(json.dumps(made, default=str))
`;

// ---------------------------------------------------------------- writing everything

const root = tempDir("zarr-interop-");
const STORE = { 2: join(root, "v2.zarr"), 3: join(root, "v3.zarr") } as const;
const cases: Case[] = [];
let report: PyReport;
let pyCreated: Record<string, Record<string, Json>>;

/** Run `write`, which returns the expected shape and flat values; a throw is kept for the dataset's test. */
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

/** Append `batches` (rows per batch) of generated data; return what zarr-python must read. */
async function appendBatches(
  saver: ZarrSaver,
  dtype: DataType,
  tail: number[],
  batches: number[],
  form: Form,
  first: SaveOptions,
) {
  const expected: Json[] = [];
  let rows = 0;
  for (const [b, n] of batches.entries()) {
    const shape = [n, ...tail];
    const flat = values(dtype, size(shape), rows * size(tail) + 17 * DTYPES.indexOf(dtype));
    const opts: SaveOptions = { ...(b === 0 ? first : {}), ...(form === "nested" ? { dtype } : {}) };
    const res = await saver.save(input(dtype, flat, shape, form), opts);
    expect(res.region[0]).toEqual([rows, rows + n]);
    rows += n;
    expected.push(...flat.map(json));
  }
  return { shape: [rows, ...tail], expected };
}

const TAILS = [[], [5], [3, 2], [2, 3, 2]];
const FORMS: Form[] = ["typed", "rows", "ndarray", "nested"];

async function writeDtypeMatrix(): Promise<void> {
  for (const [d, dtype] of DTYPES.entries()) {
    for (const [t, tail] of TAILS.entries()) {
      const ndim = t + 1;
      const format = ndim % 2 === 1 ? 3 : 2;
      const comp = COMPRESSORS[(d + ndim) % COMPRESSORS.length] as (typeof COMPRESSORS)[number];
      const form = FORMS[(d + t) % FORMS.length] as Form;
      const path = `${dtype}_${ndim}d`;
      const batches = (d + t) % 3 === 0 ? [4, 3, 2] : [4, 3];
      const chunks = [3, ...tail.map((n) => Math.max(1, n - 1))];
      const first: SaveOptions = {
        zarrFormat: format,
        chunks,
        ...(comp.option === undefined ? {} : { compressor: comp.option }),
      };
      await record(
        {
          key: `v${format}/${path} (${comp.label}, ${form})`,
          store: STORE[format],
          path,
          dtype,
          check: (a) => {
            expect(a.meta.zarr_format).toBe(format);
            const want = format === 2 ? comp.v2 : comp.v3;
            expect(a.compressors).toEqual(want ? [expect.objectContaining(want)] : []);
            expect(
              a.meta.chunks ?? (a.meta.chunk_grid as { configuration: { chunk_shape: Json } }).configuration.chunk_shape,
            ).toEqual(chunks);
          },
        },
        () => appendBatches(new ZarrSaver(STORE[format], { datasetName: path }), dtype, tail, batches, form, first),
      );
    }
  }
}

async function writeSpecialCases(): Promise<void> {
  // Sharded v3: inner chunks [2, 2] in shards [4, 4]; three appends straddle both.
  await record(
    {
      key: "v3/sharded",
      store: STORE[3],
      path: "sharded",
      dtype: "float32",
      check: (a) => {
        const codecs = a.meta.codecs as { name: string; configuration: { chunk_shape: number[] } }[];
        expect(codecs[0]).toMatchObject({ name: "sharding_indexed", configuration: { chunk_shape: [2, 2] } });
        expect((a.meta.chunk_grid as { configuration: Json }).configuration).toEqual({ chunk_shape: [4, 4] });
      },
    },
    () =>
      appendBatches(new ZarrSaver(STORE[3], { datasetName: "sharded" }), "float32", [6], [3, 3, 2], "rows", {
        chunks: [2, 2],
        shards: [4, 4],
      }),
  );
  // Nested dataset names, listed by open_group.
  for (const format of [2, 3] as const) {
    await record({ key: `v${format}/a/b/c`, store: STORE[format], path: "a/b/c", dtype: "int16" }, () =>
      appendBatches(new ZarrSaver(STORE[format], { datasetName: "a/b/c" }), "int16", [2], [2, 2], "typed", {
        zarrFormat: format,
        chunks: [3, 2],
      }),
    );
  }
  // update: a list of rows in any order with a negative (v3), then a slice and a single index (v2).
  await record({ key: "v3/update-list", store: STORE[3], path: "upd_list", dtype: "int32" }, async () => {
    const out = await appendBatches(new ZarrSaver(STORE[3], { datasetName: "upd_list" }), "int32", [3], [4, 3], "typed", {
      chunks: [3, 2],
    });
    const data = [-1, -2, -3, 10, 20, 30, 7, 8, 9];
    await new ZarrSaver(STORE[3], { datasetName: "upd_list", approach: "update" }).save(nest(data, [3, 3]) as SaveData, {
      indices: [5, 0, -1],
    });
    setRows(out.expected, 3, [5, 0, 6], data);
    return out;
  });
  await record({ key: "v2/update-slice", store: STORE[2], path: "upd_slice", dtype: "float64" }, async () => {
    const out = await appendBatches(new ZarrSaver(STORE[2], { datasetName: "upd_slice" }), "float64", [], [5, 4], "typed", {
      zarrFormat: 2,
      chunks: [3],
    });
    const upd = new ZarrSaver(STORE[2], { datasetName: "upd_slice", approach: "update" });
    await upd.save(new Float64Array([0.25, Number.NaN, 1e-300]), { indices: slice(1, 9, 3) });
    await upd.save([42.5], { indices: -1 });
    setRows(out.expected, 1, [1, 4, 7, 8], [0.25, Number.NaN, 1e-300, 42.5]);
    return out;
  });
  await record({ key: "v2/update-strings", store: STORE[2], path: "upd_str", dtype: "string" }, async () => {
    const out = await appendBatches(new ZarrSaver(STORE[2], { datasetName: "upd_str" }), "string", [], [4, 3], "nested", {
      zarrFormat: 2,
      chunks: [3],
    });
    await new ZarrSaver(STORE[2], { datasetName: "upd_str", approach: "update" }).save(["four", "ñ"], { indices: [4, 1] });
    setRows(out.expected, 1, [4, 1], ["four", "ñ"]);
    return out;
  });
  // overwrite replaces shape, dtype and codecs.
  await record(
    {
      key: "v3/overwrite",
      store: STORE[3],
      path: "ow",
      dtype: "float32",
      check: (a) => expect(a.compressors).toEqual([expect.objectContaining({ name: "zstd", level: 2 })]),
    },
    async () => {
      await appendBatches(new ZarrSaver(STORE[3], { datasetName: "ow" }), "int32", [4], [4, 3], "typed", {
        chunks: [3, 4],
        compressor: new GZip(),
      });
      const data = [1.5, -2.5, 3, 4, 5, 6];
      await new ZarrSaver(STORE[3], { datasetName: "ow", approach: "overwrite" }).save(
        { data: new Float32Array(data), shape: [2, 3] },
        { chunks: [1, 3], compressor: new Zstd({ level: 2 }) },
      );
      return { shape: [2, 3], expected: data };
    },
  );
  await record({ key: "v2/overwrite", store: STORE[2], path: "ow", dtype: "string" }, async () => {
    await appendBatches(new ZarrSaver(STORE[2], { datasetName: "ow" }), "bool", [2], [4, 3], "nested", {
      zarrFormat: 2,
      chunks: [3, 2],
    });
    await new ZarrSaver(STORE[2], { datasetName: "ow", approach: "overwrite" }).save(["x", "yy"], { zarrFormat: 2 });
    return { shape: [2], expected: ["x", "yy"] };
  });
}

/**
 * Appends into chunks of 1 MiB and 512 KiB: the chunk at the array's end is stored
 * in blosc blocks of 128 KiB and an append re-encodes only the blocks it touches,
 * copying the rest from the chunk's previous encoding. Batches cross block and chunk
 * boundaries; one chunk file is touched on the way, so the next append finds its
 * cached copy stale and starts again from the file.
 */
const TAIL_CASES = [
  { format: 3, dtype: "float64", cols: 16, chunkRows: 8192, chunkFile: "c/0/0", lastChunk: "c/1/0" },
  { format: 2, dtype: "float32", cols: 32, chunkRows: 4096, chunkFile: "1.0", lastChunk: "2.0" },
] as const;

async function writeTailBlockCases(): Promise<void> {
  for (const t of TAIL_CASES) {
    const path = `tail_${t.dtype}`;
    // The last chunk is the one the appends kept rewriting: its blosc header names 128 KiB blocks.
    const check = () => expect(readFileSync(join(STORE[t.format], path, t.lastChunk)).readUInt32LE(8)).toBe(128 * 1024);
    await record({ key: `v${t.format}/${path}`, store: STORE[t.format], path, dtype: t.dtype, check }, async () => {
      const saver = new ZarrSaver(STORE[t.format], { datasetName: path });
      const expected: Json[] = [];
      let rows = 0;
      const batches = [100, 700, 1, 333, 100, 100, 2000, 1, 100, 700, 333, 100, 2000, 1, 700, 100, 2000, 100];
      for (const [i, n] of batches.entries()) {
        const values = Array.from({ length: n * t.cols }, (_, k) => (rows * t.cols + k) * 0.5);
        const data = t.dtype === "float64" ? Float64Array.from(values) : Float32Array.from(values);
        await saver.save({ data, shape: [n, t.cols] }, { zarrFormat: t.format, chunks: [t.chunkRows, t.cols] });
        expected.push(...data);
        rows += n;
        if (i === 9) {
          const file = join(STORE[t.format], path, t.chunkFile);
          utimesSync(file, new Date(), new Date(Date.now() + 5000));
        }
      }
      return { shape: [rows, t.cols], expected };
    });
  }
}

/** fillValue, dimensionNames and attributes (set on creation, kept through the appends). */
const META_CASES = [
  { format: 3, dtype: "float64", fillValue: Number.NaN, fill: "NaN", dims: ["time", null] },
  { format: 3, dtype: "string", fillValue: "n/a", fill: "n/a", dims: ["name"] },
  { format: 3, dtype: "bool", fillValue: true, fill: true, dims: ["x", "y"] },
  { format: 2, dtype: "int32", fillValue: -7, fill: -7, dims: ["time", "channel"] },
  { format: 2, dtype: "uint64", fillValue: 2n ** 64n - 1n, fill: "18446744073709551615", dims: ["t", "c"] },
] as const;
const ATTRIBUTES = { units: "m", nested: { list: [1, 2.5, "x"], flag: true, none: null } };

async function writeMetaCases(): Promise<void> {
  for (const m of META_CASES) {
    const path = `meta_${m.dtype}`;
    const tail = m.dims.length === 2 ? [2] : [];
    await record(
      {
        key: `v${m.format}/${path}`,
        store: STORE[m.format],
        path,
        dtype: m.dtype,
        check: (a) => {
          expect(a.fill_value).toEqual(m.fill);
          if (m.format === 3) {
            expect(a.dimension_names).toEqual(m.dims);
            expect(a.attrs).toEqual(ATTRIBUTES);
          } else {
            expect(a.attrs).toEqual({ ...ATTRIBUTES, _ARRAY_DIMENSIONS: m.dims });
          }
        },
      },
      () =>
        appendBatches(new ZarrSaver(STORE[m.format], { datasetName: path }), m.dtype, tail, [3, 2], "nested", {
          zarrFormat: m.format,
          chunks: [2, ...tail],
          fillValue: m.fillValue,
          dimensionNames: m.dims,
          attributes: ATTRIBUTES,
        }),
    );
  }
}

/** Arrays made by zarr-python: ZarrSaver appends, then updates; zarr-python must read them with unchanged codecs. */
async function writeIntoPythonArrays(): Promise<void> {
  const sameMeta = (key: string) => (a: PyArray) => {
    const { shape: _, ...meta } = a.meta;
    expect(meta).toEqual(pyCreated[key]);
  };
  const py = (store: string, path: string) => ({ store: join(root, `${store}.zarr`), path, check: sameMeta(`${store}/${path}`) });
  await record({ key: "py3/i32", ...py("py3", "i32"), dtype: "int32" }, async () => {
    const expected: Json[] = Array.from({ length: 12 }, (_, i) => i);
    const app = [
      [12, 13, 14],
      [15, 16, 17],
      [-2147483648, 2147483647, 0],
    ];
    await new ZarrSaver(join(root, "py3.zarr"), { datasetName: "i32" }).save(app); // float64 numbers, cast losslessly
    expected.push(...app.flat());
    const upd = [new Int32Array([-1, -2, -3]), new Int32Array([-4, -5, -6])];
    await new ZarrSaver(join(root, "py3.zarr"), { datasetName: "i32", approach: "update" }).save(upd, { indices: [6, 1] });
    setRows(expected, 3, [6, 1], [-1, -2, -3, -4, -5, -6]);
    return { shape: [7, 3], expected };
  });
  for (const fmt of [3, 2]) {
    await record({ key: `py${fmt}/str`, ...py(`py${fmt}`, "str"), dtype: "string" }, async () => {
      const file = join(root, `py${fmt}.zarr`);
      await new ZarrSaver(file, { datasetName: "str" }).save(["é", "🦀", ""]);
      await new ZarrSaver(file, { datasetName: "str", approach: "update" }).save(["zero", "five"], { indices: [0, 5] });
      return { shape: [7], expected: ["zero", "p1", "p2", "p3", "é", "five", ""] };
    });
  }
  await record({ key: "py2/f64", ...py("py2", "f64"), dtype: "float64" }, async () => {
    const file = join(root, "py2.zarr");
    await new ZarrSaver(file, { datasetName: "f64" }).save(new Float64Array([Number.NaN, 1e300, -0]));
    await new ZarrSaver(file, { datasetName: "f64", approach: "update" }).save([7.25, -1], { indices: [4, 0] });
    return { shape: [8], expected: [-1, 0.5, 1, 1.5, 7.25, "NaN", 1e300, -0] };
  });
  await record({ key: "py2blosc/u16", ...py("py2blosc", "u16"), dtype: "uint16" }, async () => {
    const file = join(root, "py2blosc.zarr");
    const expected: Json[] = Array.from({ length: 12 }, (_, i) => i * 5000);
    await new ZarrSaver(file, { datasetName: "u16" }).save({ data: new Uint16Array([1, 2, 3, 65535, 0, 7]), shape: [2, 3] });
    expected.push(1, 2, 3, 65535, 0, 7);
    await new ZarrSaver(file, { datasetName: "u16", approach: "update" }).save([[65535, 0, 1]], { indices: [3] });
    setRows(expected, 3, [3], [65535, 0, 1]);
    return { shape: [6, 3], expected };
  });
}

beforeAll(async () => {
  pyCreated = runPython<Record<string, Record<string, Json>>>(PY_CREATE, [root]);
  await writeDtypeMatrix();
  await writeSpecialCases();
  await writeMetaCases();
  await writeTailBlockCases();
  await writeIntoPythonArrays();
  const request = { arrays: cases.map((c) => [c.key, c.store, c.path]), groups: [STORE[2], STORE[3]] };
  report = runPython<PyReport>(PY_READ, [JSON.stringify(request)]);
});

// ---------------------------------------------------------------- tests

function checkCase(c: Case): void {
  if (c.error) throw c.error;
  expect(c.expected).toHaveLength(size(c.shape));
  const a = report.arrays[c.key] as PyArray;
  expect(a.error, `zarr-python failed to read ${c.key}`).toBeUndefined();
  expect(a.shape).toEqual(c.shape);
  expect(a.dtype).toBe(c.dtype === "string" ? PY_STRING_DTYPE : c.dtype);
  expect(([a.values] as unknown[]).flat(Number.POSITIVE_INFINITY)).toEqual(c.expected);
  c.check?.(a);
}

const name = (prefix: string) => (c: Case) => c.key.startsWith(prefix);

describe("zarr-python 3 reads what ZarrSaver writes", () => {
  it("the matrix covers every dtype x ndim and every compressor x format", () => {
    const matrix = cases.filter((c) => /_\dd \(/.test(c.key));
    expect(matrix).toHaveLength(DTYPES.length * TAILS.length);
    const combos = new Set(matrix.map((c) => `${c.key.slice(0, 2)} ${c.key.split("(")[1]?.split(",")[0]}`));
    expect(combos.size).toBe(2 * COMPRESSORS.length);
  });
  describe("every dtype in 1-4 dimensions, appended in 2-3 batches", () => {
    it.each(DTYPES.flatMap((d) => [1, 2, 3, 4].map((n) => `${d}_${n}d`)))("%s", (path) => {
      checkCase(cases.find((c) => c.path === path) as Case);
    });
  });
  it.each(["v3/sharded", "v3/update-list", "v2/update-slice", "v2/update-strings", "v3/overwrite", "v2/overwrite"])(
    "%s",
    (key) => {
      checkCase(cases.find(name(key)) as Case);
    },
  );
});

describe("zarr-python's open_group lists the datasets", () => {
  it.each([2, 3] as const)("format %i container, including the nested a/b/c", (format) => {
    const listed = report.groups[STORE[format]];
    expect(listed?.error).toBeUndefined();
    const written = cases.filter((c) => c.store === STORE[format]).map((c) => c.path);
    expect(listed?.arrays).toEqual([...new Set(written)].sort());
    expect(listed?.groups).toEqual(["a", "a/b"]);
    checkCase(cases.find(name(`v${format}/a/b/c`)) as Case);
  });
});

describe("appends into large chunks, re-encoding only the blocks they touch", () => {
  it.each(TAIL_CASES.map((t) => `v${t.format}/tail_${t.dtype}`))("%s", (key) => checkCase(cases.find(name(key)) as Case));
});

describe("fillValue, dimensionNames and attributes round trip", () => {
  it.each(META_CASES.map((m) => `v${m.format}/meta_${m.dtype}`))("%s", (key) => checkCase(cases.find(name(key)) as Case));
});

describe("ZarrSaver appends to and updates arrays zarr-python created", () => {
  it.each(["py3/i32", "py3/str", "py2/str", "py2/f64", "py2blosc/u16"])("%s", (key) => checkCase(cases.find(name(key)) as Case));
});
