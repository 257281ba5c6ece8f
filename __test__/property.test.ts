/**
 * Property tests (bad input loses nothing):
 *
 * 1. Random arrays (1-3 dims, every dtype, several data forms), random creation
 *    options (chunks, Blosc / Zstd / GZip / none, Zarr v2 / v3) and random follow-up
 *    saves (appends along any axis, updates with every index form, overwrites) either
 *    round-trip exactly, compared with a JS model of the array and read back by zarrita
 *    (and, once per run's final state, by zarr-python), or fail with the error the
 *    model predicts from the documented behaviour (docs/usage.md) and leave every byte of the container as it was.
 * 2. Truncated, random or mangled metadata gives a ZarrSaverError (CorruptMetadataError
 *    for metadata that is not even JSON), never a crash or another error, and a failed
 *    save changes nothing.
 *
 * 3. Random groups (1-3 arrays of any dtype and shape, v2 or v3) and random group
 *    appends and updates, some with one bad array: every array round-trips and
 *    zarr-python's consolidated view agrees, or the save fails with an error a bad
 *    array predicts and leaves every byte as it was.
 *
 * Runs are bounded (numRuns below); FC_SEED=<n> replays a failure fast-check reports,
 * ZARR_SAVER_PROPERTY_RUNS=<n> runs longer.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  Blosc,
  type CodecConfig,
  CorruptMetadataError,
  DATA_TYPES,
  type DataType,
  DtypeMismatchError,
  GroupSaver,
  GZip,
  type Indices,
  InvalidArgumentError,
  OutOfBoundsError,
  type SaveData,
  type SaveOptions,
  ShapeMismatchError,
  ZarrSaver,
  ZarrSaverError,
  Zstd,
} from "../src/index.js";
import { mulberry32 } from "./helpers/prng.js";
import { runPython } from "./helpers/python.js";
import { readZarrita } from "./helpers/read.js";
import { snapshotTree, tempDir } from "./helpers/tmp.js";

// ZARR_SAVER_PROPERTY_RUNS=<n> runs both properties longer (bug hunting).
const RUNS_OVERRIDE = Number(process.env.ZARR_SAVER_PROPERTY_RUNS) || undefined;
const NUM_RUNS = RUNS_OVERRIDE ?? 50;
const CORRUPT_RUNS = RUNS_OVERRIDE ?? 60;
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);

// ---------------------------------------------------------------- the model

type Scalar = number | bigint | boolean | string;
/** What the dataset must hold: dtype, shape and the values in C order. */
interface Model {
  dtype: DataType;
  shape: number[];
  values: Scalar[];
  format: 2 | 3;
}

const DTYPES: readonly DataType[] = DATA_TYPES;
const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 2 ** 32 - 1],
};
type TypedCtor = {
  from(values: Iterable<unknown>): ArrayLike<unknown> & { subarray(a: number, b: number): unknown };
  new (n: number): { set(a: ArrayLike<unknown>, o: number): void; subarray(a: number, b: number): unknown };
};
const TYPED: Partial<Record<DataType, TypedCtor>> = {
  int8: Int8Array as never,
  int16: Int16Array as never,
  int32: Int32Array as never,
  int64: BigInt64Array as never,
  uint8: Uint8Array as never,
  uint16: Uint16Array as never,
  uint32: Uint32Array as never,
  uint64: BigUint64Array as never,
  float32: Float32Array as never,
  float64: Float64Array as never,
};

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
function stridesOf(shape: readonly number[]): number[] {
  const s = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}
/** Every multi-index of `shape`, in C order. */
function* indices(shape: readonly number[]): Generator<number[]> {
  if (shape.some((n) => n === 0)) return;
  const idx = shape.map(() => 0);
  for (;;) {
    yield [...idx];
    let d = shape.length - 1;
    for (; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (shape[d] as number)) break;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Nested JS arrays of `values` in `shape`; `leaf` turns each innermost row into something else (a typed array). */
function nest(values: readonly Scalar[], shape: readonly number[], leaf?: (row: Scalar[]) => unknown): unknown[] {
  const build = (offset: number, depth: number): unknown => {
    const n = shape[depth] as number;
    const step = size(shape.slice(depth + 1));
    if (depth === shape.length - 1) {
      const row = values.slice(offset, offset + n) as Scalar[];
      return leaf ? leaf(row) : row;
    }
    return Array.from({ length: n }, (_, i) => build(offset + i * step, depth + 1));
  };
  return build(0, 0) as unknown[];
}

/** How the test hands data to save(): the data forms of docs/usage.md. */
type Form = "nested" | "flat" | "typed-rows" | "offset-view" | "numbers";

/** `values` of `dtype` in `shape`, as `form`. "numbers" gives plain JS numbers (float64 data, cast by the core). */
function makeData(dtype: DataType, shape: readonly number[], values: readonly Scalar[], form: Form): SaveData {
  const Typed = TYPED[dtype];
  if (form === "numbers") return nest(values.map(Number), shape) as SaveData;
  if (!Typed || dtype === "float64") {
    if (form === "flat" || form === "offset-view") {
      return dtype === "float64" ? { data: Float64Array.from(values as number[]), shape } : { data: [...values], shape };
    }
    return nest(values, shape) as SaveData; // numbers -> float64, bigints, booleans, strings
  }
  if (form === "flat") return { data: Typed.from(values) as never, shape };
  if (form === "offset-view") {
    // A view into a larger buffer at a non-zero offset: the core must honour byteOffset.
    const big = new Typed(values.length + 5);
    big.set(values as ArrayLike<unknown>, 3);
    return { data: big.subarray(3, 3 + values.length) as never, shape };
  }
  if (form === "typed-rows")
    return (shape.length === 1 ? Typed.from(values) : nest(values, shape, (row) => Typed.from(row))) as SaveData;
  // nested bigints become int64 (or uint64): both cast losslessly to the stored 64-bit type
  if (dtype === "int64" || dtype === "uint64") return nest(values, shape) as SaveData;
  return (shape.length === 1 ? Typed.from(values) : nest(values, shape, (row) => Typed.from(row))) as SaveData;
}

/**
 * The dtype a new array gets from `values` given as `form` (docs/usage.md, Data):
 * `bigint[]` makes int64 unless a value needs uint64.
 */
function createdDtype(dtype: DataType, values: readonly Scalar[], form: Form): DataType {
  if (dtype === "uint64" && form === "nested" && values.every((v) => (v as bigint) < 2n ** 63n)) return "int64";
  return dtype;
}

/** Whether a float64 `value` casts to `dtype` without loss (lossy casts are errors). */
function castsExactly(value: number, dtype: DataType): boolean {
  const range = INT_RANGE[dtype];
  if (range) return Number.isInteger(value) && value >= range[0] && value <= range[1];
  if (dtype === "int64") return Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63;
  if (dtype === "uint64") return Number.isInteger(value) && value >= 0 && value < 2 ** 64;
  if (dtype === "float32") return Number.isNaN(value) || Math.fround(value) === value;
  return dtype === "float64";
}

/** The value `x` (a float64) becomes in a `dtype` array. */
function castValue(x: number, dtype: DataType): Scalar {
  if (dtype === "int64" || dtype === "uint64") return BigInt(x);
  // Integers have no negative zero.
  return dtype === "float32" || dtype === "float64" ? x : x + 0;
}

// ---------------------------------------------------------------- arbitraries

function valueArb(dtype: DataType): fc.Arbitrary<Scalar> {
  const range = INT_RANGE[dtype];
  if (range) return fc.integer({ min: range[0], max: range[1] });
  switch (dtype) {
    case "bool":
      return fc.boolean();
    case "int64":
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case "uint64":
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case "float32":
      return fc.float();
    case "float64":
      return fc.double();
    default:
      return fc.string({ unit: "grapheme", maxLength: 6 });
  }
}
const valuesArb = (dtype: DataType, shape: readonly number[]): fc.Arbitrary<Scalar[]> =>
  fc.array(valueArb(dtype), { minLength: size(shape), maxLength: size(shape) });
/** Doubles for "numbers" data: mostly integers near the stored range, some fractions (lossy). */
const numbersArb = (n: number): fc.Arbitrary<number[]> =>
  fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: -300, max: 70_000 }) },
      { weight: 1, arbitrary: fc.double({ noNaN: true, min: -1e6, max: 1e6 }) },
    ),
    {
      minLength: n,
      maxLength: n,
    },
  );
const formArb = (dtype: DataType): fc.Arbitrary<Form> =>
  dtype === "bool" || dtype === "string"
    ? fc.constantFrom<Form>("nested", "flat")
    : fc.constantFrom<Form>("nested", "flat", "typed-rows", "offset-view");

const compressorArb: fc.Arbitrary<CodecConfig | null | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc
    .record({
      cname: fc.constantFrom("lz4", "zstd", "blosclz", "zlib", "lz4hc"),
      clevel: fc.integer({ min: 0, max: 9 }),
      shuffle: fc.constantFrom(0, 1, 2),
    })
    .map((o) => new Blosc(o as never)),
  fc.integer({ min: 1, max: 9 }).map((level) => new Zstd({ level })),
  fc.integer({ min: 1, max: 9 }).map((level) => new GZip({ level })),
);

interface NewArray {
  dtype: DataType;
  shape: number[];
  values: Scalar[];
  form: Form;
  options: SaveOptions;
}
const newArrayArb: fc.Arbitrary<NewArray> = fc
  .record({ dtype: fc.constantFrom(...DTYPES), shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }) })
  .chain(({ dtype, shape }) =>
    fc.record({
      dtype: fc.constant(dtype),
      shape: fc.constant(shape),
      values: valuesArb(dtype, shape),
      form: formArb(dtype),
      options: fc.record(
        {
          chunks: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: shape.length, maxLength: shape.length }),
          compressor: compressorArb,
          zarrFormat: fc.constantFrom<2 | 3>(2, 3),
        },
        { requiredKeys: [] },
      ),
    }),
  )
  .map((a) => {
    // fc.record may produce { compressor: undefined }: drop it so the default applies.
    const options = Object.fromEntries(Object.entries(a.options).filter(([, v]) => v !== undefined)) as SaveOptions;
    return { ...a, options };
  });

/** A raw index for one axis: mostly in range, sometimes just outside. */
const positionArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -3, max: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: -9, max: 9 }) },
);
const sliceArb = fc.record({
  start: fc.option(positionArb, { nil: null }),
  stop: fc.option(positionArb, { nil: null }),
  step: fc.option(fc.constantFrom(-3, -2, -1, 1, 2, 3, 0), { nil: null }),
});
type AxisEntry = number | number[] | { start: number | null; stop: number | null; step: number | null } | null;
const axisEntryArb: fc.Arbitrary<AxisEntry> = fc.oneof(
  fc.constant(null),
  positionArb,
  fc.array(positionArb, { minLength: 1, maxLength: 4 }),
  sliceArb,
);
const indicesArb: fc.Arbitrary<Indices> = fc.oneof(
  positionArb,
  fc.array(positionArb, { minLength: 1, maxLength: 4 }),
  sliceArb,
  fc.array(axisEntryArb, { minLength: 1, maxLength: 3 }).map((axes) => ({ axes })),
);

/** A follow-up save; its data is drawn later, once the model says what shape it needs. */
type Op =
  | { kind: "append"; rows: number; axis: number; wrongTrailing: boolean; form: Form; seed: number }
  | { kind: "update"; indices: Indices; wrongShape: boolean; fullShape: boolean; form: Form; seed: number }
  | { kind: "overwrite"; array: NewArray };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      rows: fc.integer({ min: 1, max: 4 }),
      axis: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 }) }),
      wrongTrailing: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      form: fc.constantFrom<Form>("nested", "flat", "typed-rows", "offset-view", "numbers"),
      seed: fc.nat(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("update" as const),
      indices: indicesArb,
      wrongShape: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      fullShape: fc.boolean(),
      form: fc.constantFrom<Form>("nested", "flat", "typed-rows", "offset-view", "numbers"),
      seed: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("overwrite" as const), array: newArrayArb }) },
);

// ---------------------------------------------------------------- expected outcomes

type Expected = { error: abstract new (...args: never[]) => ZarrSaverError; why: string } | { model: Model };
const fail = (error: abstract new (...args: never[]) => ZarrSaverError, why: string): Expected => ({ error, why });

/** Positions of one axis under one index entry, as docs/usage.md and the core's selection.rs define them. */
function resolveAxis(
  entry: AxisEntry,
  len: number,
): { positions: number[]; squeezed: boolean } | { error: "oob" | "arg"; why: string } {
  const wrap = (i: number): number | undefined => {
    const w = i < 0 ? i + len : i;
    return w < 0 || w >= len ? undefined : w;
  };
  if (entry === null) return { positions: Array.from({ length: len }, (_, i) => i), squeezed: false };
  if (typeof entry === "number") {
    const w = wrap(entry);
    return w === undefined ? { error: "oob", why: `index ${entry} of ${len}` } : { positions: [w], squeezed: true };
  }
  if (Array.isArray(entry)) {
    const out: number[] = [];
    for (const i of entry) {
      const w = wrap(i);
      if (w === undefined) return { error: "oob", why: `index ${i} of ${len}` };
      out.push(w);
    }
    if (new Set(out).size !== out.length) return { error: "arg", why: `duplicates in ${entry}` };
    return { positions: out, squeezed: false };
  }
  const step = entry.step ?? 1;
  // Bounds may sit one past the end; beyond that they are out of range (not clamped as in Python).
  const bound = (v: number): number | undefined => {
    const w = v < 0 ? v + len : v;
    return w < 0 || w > len ? undefined : w;
  };
  const start = entry.start === null ? undefined : bound(entry.start);
  if (entry.start !== null && start === undefined) return { error: "oob", why: `slice start ${entry.start} of ${len}` };
  const stop = entry.stop === null ? undefined : bound(entry.stop);
  if (entry.stop !== null && stop === undefined) return { error: "oob", why: `slice stop ${entry.stop} of ${len}` };
  const positions: number[] = [];
  if (step > 0) {
    for (let i = start ?? 0; i < (stop ?? len); i += step) positions.push(i);
  } else {
    for (let i = Math.min(start ?? len - 1, len - 1); i > (stop ?? -1); i += step) positions.push(i);
  }
  if (positions.length === 0) return { error: "arg", why: "the slice selects nothing" };
  return { positions, squeezed: false };
}

/** The facade's own checks of an index form (before the core sees the array). */
function facadeIndexError(indices: Indices): string | undefined {
  const entries: unknown[] = typeof indices === "object" && indices !== null && "axes" in indices ? [...indices.axes] : [indices];
  for (const e of entries) {
    if (Array.isArray(e) && e.length === 0) return "empty list";
    if (e !== null && typeof e === "object" && !Array.isArray(e) && (e as { step?: number | null }).step === 0) return "step 0";
  }
  return undefined;
}

/** The update `op` on `model`: the new model or the error it must raise, plus the data to send. */
function planUpdate(model: Model, op: Extract<Op, { kind: "update" }>): { expected: Expected; data: SaveData } {
  const placeholder: SaveData = [1];
  const facadeError = facadeIndexError(op.indices);
  if (facadeError) return { expected: fail(InvalidArgumentError, facadeError), data: placeholder };
  const entries: AxisEntry[] =
    typeof op.indices === "object" && op.indices !== null && "axes" in op.indices
      ? ([...op.indices.axes] as AxisEntry[])
      : [op.indices as AxisEntry];
  if (entries.length > model.shape.length)
    return { expected: fail(InvalidArgumentError, "more axes than dimensions"), data: placeholder };
  const axes: { positions: number[]; squeezed: boolean }[] = [];
  for (const [d, len] of model.shape.entries()) {
    const r = resolveAxis(entries[d] ?? null, len);
    if ("error" in r)
      return {
        expected: fail(r.error === "oob" ? OutOfBoundsError : InvalidArgumentError, `axis ${d}: ${r.why}`),
        data: placeholder,
      };
    axes.push(r);
  }
  const full = axes.map((a) => a.positions.length);
  const numpy = axes.filter((a) => !a.squeezed).map((a) => a.positions.length);
  let dataShape = op.fullShape || numpy.length === 0 ? full : numpy;
  if (op.wrongShape) dataShape = dataShape.map((n, i) => (i === dataShape.length - 1 ? n + 1 : n));
  const rand = mulberry32(op.seed);
  const { data, values } = drawData(model.dtype, dataShape, op.form, rand);
  const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(dataShape, numpy) && !same(dataShape, full))
    return { expected: fail(ShapeMismatchError, `data ${dataShape} vs selection ${numpy}`), data };
  if (values === undefined) return { expected: fail(DtypeMismatchError, "lossy cast"), data };
  const next = [...model.values];
  const strides = stridesOf(model.shape);
  let k = 0;
  for (const idx of indices(full)) {
    let flat = 0;
    for (const [d, i] of idx.entries()) flat += (axes[d]?.positions[i] as number) * (strides[d] as number);
    next[flat] = values[k++] as Scalar;
  }
  return { expected: { model: { ...model, values: next } }, data };
}

/** The append `op` on `model`. */
function planAppend(model: Model, op: Extract<Op, { kind: "append" }>): { expected: Expected; data: SaveData } {
  const axis = Math.min(op.axis, model.shape.length - 1);
  const shape = model.shape.map((n, d) => (d === axis ? op.rows : n));
  const wrong = op.wrongTrailing && model.shape.length > 1;
  if (wrong) shape[axis === 0 ? 1 : 0] = (shape[axis === 0 ? 1 : 0] as number) + 1;
  const { data, values } = drawData(model.dtype, shape, op.form, mulberry32(op.seed));
  const options: SaveOptions = axis === 0 ? {} : { axis };
  if (wrong) return { expected: fail(ShapeMismatchError, "trailing shape"), data: withOptions(data, options) };
  if (values === undefined) return { expected: fail(DtypeMismatchError, "lossy cast"), data: withOptions(data, options) };
  const newShape = model.shape.map((n, d) => (d === axis ? n + op.rows : n));
  const oldStrides = stridesOf(model.shape);
  const dataStrides = stridesOf(shape);
  const next: Scalar[] = [];
  for (const idx of indices(newShape)) {
    const old = (idx[axis] as number) < (model.shape[axis] as number);
    const at = idx.map((i, d) => (d === axis && !old ? i - (model.shape[axis] as number) : i));
    const flat = at.reduce((s, i, d) => s + i * ((old ? oldStrides : dataStrides)[d] as number), 0);
    next.push((old ? model.values[flat] : values[flat]) as Scalar);
  }
  return { expected: { model: { ...model, shape: newShape, values: next } }, data: withOptions(data, options) };
}

// Append options ride along with the data so one helper can return both.
const OPTIONS = Symbol("options");
function withOptions(data: SaveData, options: SaveOptions): SaveData {
  return Object.assign(Object.create(null) as object, { [OPTIONS]: options, data }) as unknown as SaveData;
}
function unwrap(data: SaveData): { data: SaveData; options: SaveOptions } {
  const d = data as unknown as { [OPTIONS]?: SaveOptions; data: SaveData };
  return d[OPTIONS] ? { data: d.data, options: d[OPTIONS] } : { data, options: {} };
}

/** Data of `dtype` in `shape` as `form`, and the values it stores (undefined: some value casts with loss). */
function drawData(
  dtype: DataType,
  shape: number[],
  form: Form,
  rand: () => number,
): { data: SaveData; values: Scalar[] | undefined } {
  const n = size(shape);
  if (form === "numbers" && dtype !== "bool" && dtype !== "string") {
    const nums = fc.sample(numbersArb(n), { numRuns: 1, seed: Math.floor(rand() * 2 ** 31) })[0] as number[];
    const exact = nums.every((x) => castsExactly(x, dtype));
    return { data: makeData("float64", shape, nums, "nested"), values: exact ? nums.map((x) => castValue(x, dtype)) : undefined };
  }
  const values = fc.sample(valuesArb(dtype, shape), { numRuns: 1, seed: Math.floor(rand() * 2 ** 31) })[0] as Scalar[];
  const usable: Form =
    (dtype === "bool" || dtype === "string") && form !== "nested" && form !== "flat"
      ? "nested"
      : form === "numbers"
        ? "nested"
        : form;
  return { data: makeData(dtype, shape, values, usable), values };
}

// ---------------------------------------------------------------- reading back

/** zarrita's dtype name for what we stored. */
const zarritaDtype = (m: Model): string => (m.dtype === "string" && m.format === 2 ? "v2:object" : m.dtype);

function sameScalar(a: unknown, b: Scalar): boolean {
  return typeof b === "number" ? typeof a === "number" && Object.is(a, b) : a === b;
}

/** Read the array back with zarrita and compare it with the model: format, dtype, shape, every value. */
async function expectStored(root: string, path: string, model: Model, context: string): Promise<void> {
  expect(
    existsSync(join(root, path, model.format === 3 ? "zarr.json" : ".zarray")),
    `${context}: Zarr v${model.format} metadata`,
  ).toBe(true);
  const { data, shape, dtype } = await readZarrita(root, path);
  expect({ dtype, shape }, context).toEqual({ dtype: zarritaDtype(model), shape: model.shape });
  const values = Array.from(data as ArrayLike<unknown>);
  const show = (x: unknown): string => (typeof x === "string" ? JSON.stringify(x) : String(x));
  const bad = model.values.flatMap((v, i) =>
    sameScalar(values[i], v) ? [] : [`[${i}] read ${show(values[i])}, wrote ${show(v)}`],
  );
  expect(bad, context).toEqual([]);
}

/** size + sha256 per file: byte-for-byte comparison with readable diffs. */
function digestTree(root: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(snapshotTree(root)).map(([p, b64]) => [
      p,
      createHash("sha256").update(Buffer.from(b64, "base64")).digest("hex").slice(0, 16),
    ]),
  );
}

const DOCUMENTED_CODES = new Set([
  "ERR_ZARR_INVALID_ARGUMENT",
  "ERR_ZARR_INVALID_DATA",
  "ERR_ZARR_INDICES_REQUIRED",
  "ERR_ZARR_NOT_FOUND",
  "ERR_ZARR_SHAPE_MISMATCH",
  "ERR_ZARR_DTYPE_MISMATCH",
  "ERR_ZARR_OUT_OF_BOUNDS",
  "ERR_ZARR_UNSUPPORTED",
  "ERR_ZARR_CONFLICT",
  "ERR_ZARR_STORE",
  "ERR_ZARR_CORRUPT",
]);

/** A ZarrSaverError with a documented code that is not the facade's wrapper for an unmapped native failure. */
function expectDocumentedError(err: unknown, context: string): void {
  expect(err, context).toBeInstanceOf(ZarrSaverError);
  const e = err as ZarrSaverError;
  expect(DOCUMENTED_CODES.has(e.code), `${context}: code ${e.code}`).toBe(true);
  expect(e.message, `${context}: an unmapped native failure`).not.toMatch(/^native core failed/);
}

async function outcome(p: () => Promise<unknown>): Promise<{ ok: true } | { ok: false; err: unknown }> {
  try {
    await p();
    return { ok: true };
  } catch (err) {
    return { ok: false, err };
  }
}

// Final states of every run, read by zarr-python once at the end.
const finals: { root: string; path: string; model: Model }[] = [];

/** One value as both sides encode it for comparison: exact bits for floats. */
function encode(v: unknown, dtype: DataType): string {
  if (typeof v === "number" && dtype !== "float32" && dtype !== "float64") return `i${v}`;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "nan";
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return `f${b.toString("hex")}`;
  }
  if (typeof v === "bigint") return `i${v}`;
  if (typeof v === "boolean") return `b${v}`;
  return `s${String(v)}`;
}

// ---------------------------------------------------------------- 1. round trips

describe("property: random arrays, options and saves round-trip or fail cleanly", () => {
  it(`${NUM_RUNS} random histories`, async () => {
    const tally = new Map<string, number>();
    const count = (key: string): void => {
      tally.set(key, (tally.get(key) ?? 0) + 1);
    };
    await fc.assert(
      fc.asyncProperty(
        newArrayArb,
        fc.array(opArb, { maxLength: 4 }),
        fc.constantFrom("ds", "grp/ds", "a/b/c"),
        async (first, ops, path) => {
          const root = tempDir("zarr-saver-prop-");
          const create = await outcome(() =>
            new ZarrSaver(root, { datasetName: path }).save(
              makeData(first.dtype, first.shape, first.values, first.form),
              first.options,
            ),
          );
          if (!create.ok)
            throw new Error(
              `creating ${first.dtype} ${JSON.stringify(first.shape)} with ${JSON.stringify(first.options)} failed: ${String(create.err)}`,
            );
          let model: Model = {
            dtype: createdDtype(first.dtype, first.values, first.form),
            shape: first.shape,
            values: first.values,
            format: first.options.zarrFormat ?? 3,
          };
          await expectStored(root, path, model, "after create");
          // The groups above the array were made in its format; a hierarchy holds one.
          const hierarchyFormat = model.format;

          for (const [step, op] of ops.entries()) {
            const context = `step ${step}: ${op.kind} ${JSON.stringify(op, (_, v) => (typeof v === "bigint" ? `${v}n` : v))?.slice(0, 300)} on ${model.dtype} ${JSON.stringify(model.shape)}`;
            let expected: Expected;
            let data: SaveData;
            let options: SaveOptions = {};
            // Without zarrFormat, an overwrite takes the hierarchy's format.
            if (op.kind === "overwrite" && (op.array.options.zarrFormat ?? hierarchyFormat) !== hierarchyFormat) {
              expected = { error: InvalidArgumentError, why: "an array of the other format than its groups" };
              data = makeData(op.array.dtype, op.array.shape, op.array.values, op.array.form);
              options = op.array.options;
            } else if (op.kind === "overwrite") {
              expected = {
                model: {
                  dtype: createdDtype(op.array.dtype, op.array.values, op.array.form),
                  shape: op.array.shape,
                  values: op.array.values,
                  format: op.array.options.zarrFormat ?? hierarchyFormat,
                },
              };
              data = makeData(op.array.dtype, op.array.shape, op.array.values, op.array.form);
              options = op.array.options;
            } else if (op.kind === "append") {
              const plan = planAppend(model, op);
              expected = plan.expected;
              ({ data, options } = unwrap(plan.data));
            } else {
              const plan = planUpdate(model, op);
              expected = plan.expected;
              data = plan.data;
              options = { indices: op.indices };
            }
            const before = digestTree(root);
            const saver = new ZarrSaver(root, { datasetName: path, approach: op.kind });
            const result = await outcome(() => saver.save(data, options));
            count(`${op.kind}: ${"model" in expected ? "ok" : expected.error.name}`);
            if ("model" in expected) {
              if (!result.ok) throw new Error(`${context}: expected success, got ${String(result.err)}`);
              model = expected.model;
              await expectStored(root, path, model, context);
            } else {
              if (result.ok)
                throw new Error(`${context}: expected ${expected.error.name} (${expected.why}), but the save succeeded`);
              expect(result.err, `${context}: ${String(result.err)}`).toBeInstanceOf(expected.error);
              expectDocumentedError(result.err, context);
              expect(digestTree(root), `${context}: a failed save changed files`).toEqual(before);
              await expectStored(root, path, model, `${context} (after the failure)`);
            }
          }
          finals.push({ root, path, model });
        },
      ),
      { numRuns: NUM_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    console.info(`expected outcomes: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);

    // zarr-python, an independent reader, sees each run's final array.
    const reads = runPython<{ shape?: number[]; values?: string[]; error?: string }[]>(
      `
import json, struct, sys, math
import numpy as np
import zarr
def enc(v):
    if isinstance(v, (bool, np.bool_)): return "b" + ("true" if v else "false")
    if isinstance(v, int): return "i" + str(v)
    if isinstance(v, float): return "nan" if math.isnan(v) else "f" + struct.pack("<d", v).hex()
    return "s" + str(v)
out = []
for spec in json.loads(sys.argv[1]):
    try:
        a = zarr.open_array(store=spec["root"], path=spec["path"], mode="r")
        out.append({"shape": list(a.shape), "values": [enc(v) for v in np.asarray(a[...]).ravel().tolist()]})
    except Exception as e:
        out.append({"error": f"{type(e).__name__}: {e}"})
print(json.dumps(out))
`,
      [JSON.stringify(finals.map(({ root, path }) => ({ root, path })))],
    );
    const problems: string[] = [];
    reads.forEach((r, i) => {
      const { model, root } = finals[i] as (typeof finals)[number];
      const want = model.values.map((v) => encode(v, model.dtype));
      const where = `${root} (${model.dtype} v${model.format} ${JSON.stringify(model.shape)})`;
      if (r.error) problems.push(`${where}: ${r.error}`);
      else if (JSON.stringify(r.shape) !== JSON.stringify(model.shape))
        problems.push(`${where}: shape ${JSON.stringify(r.shape)}`);
      else if (JSON.stringify(r.values) !== JSON.stringify(want))
        problems.push(`${where}: values ${JSON.stringify(r.values).slice(0, 200)} != ${JSON.stringify(want).slice(0, 200)}`);
    });
    expect(problems).toEqual([]);
  }, 180_000);
});

// ---------------------------------------------------------------- 1b. strings JS can hold but UTF-8 cannot

/** One UTF-16 "character": mostly whole code points, sometimes a lone surrogate half (fc's units never give those). */
const utf16Unit: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)) },
);

describe("property: strings with lone surrogates round-trip or are refused, never silently changed", () => {
  it("any UTF-16 string array", async () => {
    // JS strings may hold unpaired surrogates; Zarr strings are UTF-8, and data is never
    // silently changed, so such a string must be refused (InvalidDataError), not replaced by U+FFFD.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: utf16Unit, maxLength: 5 }), { minLength: 1, maxLength: 6 }),
        async (strings) => {
          const root = tempDir("zarr-saver-utf16-");
          const result = await outcome(() => new ZarrSaver(root).save(strings));
          if (result.ok) {
            await expectStored(
              root,
              "dataset",
              { dtype: "string", shape: [strings.length], values: strings, format: 3 },
              JSON.stringify(strings),
            );
          } else {
            expectDocumentedError(result.err, String(result.err));
            expect((result.err as ZarrSaverError).code).toBe("ERR_ZARR_INVALID_DATA");
            expect(snapshotTree(root)).toEqual({});
          }
        },
      ),
      { numRuns: 30, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  });
});

// ---------------------------------------------------------------- 2. corrupt metadata

type Corruption =
  | { kind: "truncate"; at: number }
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "mutate"; key: number; value: unknown; drop: boolean };
const INTERESTING: unknown[] = [
  0,
  -1,
  1.5,
  2 ** 53,
  1e300,
  "",
  "x",
  null,
  true,
  [],
  {},
  [0],
  [-1],
  [0, 0],
  [1e20],
  ["a"],
  [null],
  { name: "regular" },
];
const corruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({
    kind: fc.constant("mutate" as const),
    key: fc.nat(),
    value: fc.oneof(fc.constantFrom(...INTERESTING), fc.jsonValue({ maxDepth: 2 })),
    drop: fc.boolean(),
  }),
);

function corrupt(text: string, c: Corruption): Buffer {
  if (c.kind === "garbage") return Buffer.from(c.bytes);
  const trimmed = text.trimEnd();
  // A strict prefix of a JSON object is never valid JSON.
  if (c.kind === "truncate") return Buffer.from(trimmed.slice(0, c.at % trimmed.length));
  const meta = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(meta);
  const key = keys[c.key % keys.length] as string;
  if (c.drop) delete meta[key];
  else meta[key] = c.value;
  return Buffer.from(JSON.stringify(meta));
}

describe("property: truncated, random or mangled metadata never crashes", () => {
  it(`${CORRUPT_RUNS} corruptions of array and group metadata`, async () => {
    const tally = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        newArrayArb,
        corruptionArb,
        fc.constantFrom("array", "array", "array", "group"),
        fc.constantFrom<"append" | "update" | "overwrite">("append", "update", "overwrite"),
        async (array, corruption, target, approach) => {
          const root = tempDir("zarr-saver-corrupt-");
          const path = "grp/ds";
          await new ZarrSaver(root, { datasetName: path }).save(
            makeData(array.dtype, array.shape, array.values, array.form),
            array.options,
          );
          const v2 = array.options.zarrFormat === 2;
          const file =
            target === "array" ? join(root, path, v2 ? ".zarray" : "zarr.json") : join(root, "grp", v2 ? ".zgroup" : "zarr.json");
          const original = readFileSync(file, "utf8");
          const bytes = corrupt(original, corruption);
          writeFileSync(file, bytes);
          const before = digestTree(root);

          // One more row (or the first row again, for update) of the array as it was.
          const rowShape = [1, ...array.shape.slice(1)];
          const row = array.values.slice(0, size(rowShape));
          const data = makeData(array.dtype, rowShape, row, array.form);
          const saver = new ZarrSaver(root, { datasetName: path, approach });
          const result = await outcome(() =>
            saver.save(data, approach === "update" ? { indices: { axes: [0] } } : approach === "overwrite" ? array.options : {}),
          );
          const context = `${approach} after ${corruption.kind} of ${target} metadata ${JSON.stringify(bytes.toString("latin1").slice(0, 160))}`;
          tally.set(
            result.ok ? "ok" : ((result.err as { code?: string }).code ?? "?"),
            (tally.get(result.ok ? "ok" : ((result.err as { code?: string }).code ?? "?")) ?? 0) + 1,
          );
          if (!result.ok) {
            expectDocumentedError(result.err, `${context}: ${String(result.err)}`);
            expect(digestTree(root), `${context}: a failed save changed files`).toEqual(before);
            // Metadata that is not even JSON (or not a JSON object) is corrupt, whatever the approach.
            let isObject = false;
            try {
              const parsed: unknown = JSON.parse(bytes.toString("utf8"));
              isObject = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
            } catch {
              isObject = false;
            }
            if (!isObject && target === "array")
              expect(result.err, `${context}: ${String(result.err)}`).toBeInstanceOf(CorruptMetadataError);
            return;
          }
          // Success is fine where the damaged file is not needed (a group for append/update), or
          // survived as valid metadata (a mutation zarrs accepts), or was replaced (overwrite).
          const readable = corruption.kind === "mutate" || target === "group" || approach === "overwrite";
          expect(readable, `${context}: the save succeeded over metadata that is not a JSON object`).toBe(true);
          if (approach === "overwrite") {
            await expectStored(
              root,
              path,
              { dtype: createdDtype(array.dtype, row, array.form), shape: rowShape, values: row, format: v2 ? 2 : 3 },
              context,
            );
          } else if (target === "group") {
            const model: Model = {
              dtype: createdDtype(array.dtype, array.values, array.form),
              shape: array.shape,
              values: [...array.values],
              format: v2 ? 2 : 3,
            };
            if (approach === "append") {
              model.shape = [(array.shape[0] as number) + 1, ...array.shape.slice(1)];
              model.values = [...array.values, ...row];
            }
            await expectStored(root, path, model, context);
          }
        },
      ),
      { numRuns: CORRUPT_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    console.info(`corrupt metadata outcomes: ${JSON.stringify(Object.fromEntries(tally))}`);
  }, 120_000);
});

afterAll(() => {
  finals.length = 0;
});

// ---------------------------------------------------------------- 3. group saves

const GROUP_RUNS = RUNS_OVERRIDE ?? 30;

/** One array of a new group: its dtype, trailing shape and first values. */
interface GroupMember {
  name: string;
  dtype: DataType;
  trailing: number[];
  form: Form;
  seed: number;
  chunks: number;
  compressor: CodecConfig | null | undefined;
}
const memberArb = (name: string): fc.Arbitrary<GroupMember> =>
  fc.record({
    name: fc.constant(name),
    dtype: fc.constantFrom(...DTYPES),
    trailing: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    form: fc.constantFrom<Form>("nested", "flat", "typed-rows", "offset-view"),
    seed: fc.nat(),
    chunks: fc.integer({ min: 1, max: 4 }),
    compressor: compressorArb,
  });
const groupArb = fc
  .subarray(["temp", "wind", "time"], { minLength: 1 })
  .chain((names) => fc.tuple(...names.map(memberArb)))
  .chain((members) =>
    fc.record({
      members: fc.constant(members),
      rows: fc.integer({ min: 1, max: 4 }),
      zarrFormat: fc.constantFrom<2 | 3>(2, 3),
    }),
  );

/** A group save after the first; each array's data is drawn from the models. */
type GroupOp =
  | { kind: "append"; rows: number; fault: "none" | "trailing" | "rows"; victim: number; forms: Form[]; seed: number }
  | { kind: "update"; indices: Indices; wrongShape: boolean; forms: Form[]; seed: number };
const formsArb = fc.array(fc.constantFrom<Form>("nested", "flat", "typed-rows", "offset-view", "numbers"), {
  minLength: 3,
  maxLength: 3,
});
const groupOpArb: fc.Arbitrary<GroupOp> = fc.oneof(
  fc.record({
    kind: fc.constant("append" as const),
    rows: fc.integer({ min: 1, max: 4 }),
    fault: fc.constantFrom<"none" | "trailing" | "rows">("none", "none", "none", "trailing", "rows"),
    victim: fc.nat({ max: 2 }),
    forms: formsArb,
    seed: fc.nat(),
  }),
  fc.record({
    kind: fc.constant("update" as const),
    indices: fc.oneof(positionArb, fc.array(positionArb, { minLength: 1, maxLength: 3 }), sliceArb),
    wrongShape: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    forms: formsArb,
    seed: fc.nat(),
  }),
);

describe("property: random group saves round-trip all together or fail and change nothing", () => {
  it(`${GROUP_RUNS} random groups`, async () => {
    const tally = new Map<string, number>();
    const groupFinals: { root: string; models: Record<string, Model> }[] = [];
    await fc.assert(
      fc.asyncProperty(groupArb, fc.array(groupOpArb, { maxLength: 4 }), async (group, ops) => {
        const root = tempDir("zarr-saver-prop-group-");
        const models: Record<string, Model> = {};
        const first: Record<string, SaveData> = {};
        const arrays: Record<string, SaveOptions> = {};
        for (const m of group.members) {
          const shape = [group.rows, ...m.trailing];
          const values = fc.sample(valuesArb(m.dtype, shape), { numRuns: 1, seed: m.seed })[0] as Scalar[];
          first[m.name] = makeData(m.dtype, shape, values, m.form);
          models[m.name] = { dtype: createdDtype(m.dtype, values, m.form), shape, values, format: group.zarrFormat };
          arrays[m.name] = {
            chunks: shape.map((n, d) => (d === 0 ? m.chunks : n)),
            ...(m.compressor === undefined ? {} : { compressor: m.compressor }),
          };
        }
        await new GroupSaver(root).save(first, { zarrFormat: group.zarrFormat, arrays });
        for (const [name, model] of Object.entries(models)) await expectStored(root, name, model, `after create: ${name}`);

        for (const [step, op] of ops.entries()) {
          const context = `step ${step}: group ${op.kind} ${JSON.stringify(op)}`;
          // Each array's plan; the group save succeeds only if every one does, else it
          // fails with an error one of the failing arrays predicts.
          const plans = group.members.map((m, i) => {
            const model = models[m.name] as Model;
            const form = op.forms[i] as Form;
            const seed = (op.seed + i) >>> 0;
            if (op.kind === "update")
              return planUpdate(model, {
                kind: "update",
                indices: op.indices,
                wrongShape: op.wrongShape,
                fullShape: false,
                form,
                seed,
              });
            const victim = op.fault !== "none" && i === op.victim % group.members.length;
            const rows = victim && op.fault === "rows" ? op.rows + 1 : op.rows;
            const plan = planAppend(model, {
              kind: "append",
              rows,
              axis: 0,
              wrongTrailing: victim && op.fault === "trailing",
              form,
              seed,
            });
            // Unequal rows are the group's own refusal; the array that is checked
            // first may fail on its own before the others' rows are compared with it.
            if (victim && op.fault === "rows" && group.members.length > 1)
              return { expected: fail(ShapeMismatchError, "unequal rows"), data: plan.data, own: plan.expected };
            return plan;
          });
          const failing = plans.filter((p) => !("model" in p.expected));
          const data = Object.fromEntries(
            group.members.map((m, i) => [m.name, unwrap((plans[i] as (typeof plans)[number]).data).data]),
          );
          const before = digestTree(root);
          const saver = new GroupSaver(root, { approach: op.kind });
          const result = await outcome(() => saver.save(data, op.kind === "update" ? { indices: op.indices } : {}));
          count(tally, `${op.kind}: ${failing.length === 0 ? "ok" : "error"}`);
          if (failing.length === 0) {
            if (!result.ok) throw new Error(`${context}: expected success, got ${String(result.err)}`);
            for (const [i, m] of group.members.entries()) {
              models[m.name] = ((plans[i] as (typeof plans)[number]).expected as { model: Model }).model;
              await expectStored(root, m.name, models[m.name] as Model, `${context}: ${m.name}`);
            }
          } else {
            if (result.ok) throw new Error(`${context}: expected a failure, but the save succeeded`);
            const predicted = failing.flatMap((p) =>
              [p.expected, "own" in p ? p.own : undefined].flatMap((e) => (e && "error" in e ? [e.error] : [])),
            );
            expect(
              predicted.some((E) => result.err instanceof E),
              `${context}: ${String(result.err)} is none of ${predicted.map((E) => E.name)}`,
            ).toBe(true);
            expectDocumentedError(result.err, context);
            expect(digestTree(root), `${context}: a failed group save changed files`).toEqual(before);
          }
        }
        groupFinals.push({ root, models: { ...models } });
      }),
      { numRuns: GROUP_RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
    console.info(`group outcomes: ${JSON.stringify(Object.fromEntries([...tally].sort()))}`);

    // zarr-python through the consolidated copy (its default) sees every array's final shape.
    const shapes = runPython<Record<string, number[]>[]>(
      `
import json, sys, zarr
out = []
for root in json.loads(sys.argv[1]):
    g = zarr.open_group(root, mode="r")
    out.append({name: list(a.shape) for name, a in g.arrays()})
print(json.dumps(out))
`,
      [JSON.stringify(groupFinals.map((f) => f.root))],
    );
    expect(shapes).toEqual(
      groupFinals.map((f) => Object.fromEntries(Object.entries(f.models).map(([name, m]) => [name, m.shape]))),
    );
  }, 180_000);
});

function count(tally: Map<string, number>, key: string): void {
  tally.set(key, (tally.get(key) ?? 0) + 1);
}
