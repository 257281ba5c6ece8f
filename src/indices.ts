/**
 * `update` index forms: a number, a list of numbers, a slice, or
 * `{ axes: [...] }` with one entry per leading axis. Forms are checked here;
 * bounds, negative wrapping and duplicates are checked by the core against the
 * stored shape before anything is written.
 */
import { InvalidArgumentError } from "./errors.js";
import type { AxisSelection } from "./native.js";

/** A Python-style slice; `null`/absent bounds take Python's defaults. */
export interface Slice {
  /** First position; negative counts from the end. Default 0 (the end, for a negative step). */
  start?: number | null;
  /** Position after the last one; negative counts from the end. Default the axis length. */
  stop?: number | null;
  /** Distance between positions, not 0. Default 1. */
  step?: number | null;
}

/** One axis of an orthogonal selection: a position, positions, a slice, or `null` for the whole axis. */
export type AxisIndex = number | readonly number[] | Slice | null;

/** Every accepted `indices` form. */
export type Indices =
  | number
  | readonly number[]
  | Slice
  | {
      /** One selection per leading axis; trailing axes are taken whole. */
      axes: readonly AxisIndex[];
    };

/** `slice(start, stop, step)`, as in Python: `slice(10, 20)`, `slice(null, null, 2)`. */
export function slice(start?: number | null, stop?: number | null, step?: number | null): Slice {
  return { start: start ?? null, stop: stop ?? null, step: step ?? null };
}

/** The normalized per-axis selection the core takes. */
export type AxisSelectionSpec = AxisSelection;

function integer(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`${where} must be an integer; got ${String(value)}`);
  }
  return value;
}

function isSlice(value: unknown): value is Slice {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => k === "start" || k === "stop" || k === "step");
}

function axis(value: unknown, where: string): AxisSelectionSpec {
  if (value === null || value === undefined) return { kind: "all" };
  if (typeof value === "number") return { kind: "index", index: integer(value, where) };
  if (Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    const list = Array.from(value as ArrayLike<unknown>, (v, i) => integer(v, `${where}[${i}]`));
    if (list.length === 0) throw new InvalidArgumentError(`${where} is an empty list; nothing to update`);
    return { kind: "indices", indices: list };
  }
  if (isSlice(value)) {
    const spec: { kind: "slice"; start?: number; stop?: number; step?: number } = { kind: "slice" };
    for (const key of ["start", "stop", "step"] as const) {
      const v = value[key];
      if (v !== null && v !== undefined) spec[key] = integer(v, `${where}.${key}`);
    }
    if (spec.step === 0) throw new InvalidArgumentError(`${where}.step must not be 0`);
    return spec;
  }
  throw new InvalidArgumentError(
    `${where} must be a number, a list of numbers, a slice or null; got ${JSON.stringify(value) ?? String(value)}`,
  );
}

/** Normalize any accepted `indices` form; throws {@link InvalidArgumentError} naming the bad part. */
export function parseIndices(indices: unknown): AxisSelectionSpec[] {
  if (typeof indices === "object" && indices !== null && "axes" in indices) {
    const axes = (indices as { axes: unknown }).axes;
    if (!Array.isArray(axes) || axes.length === 0) {
      throw new InvalidArgumentError("indices.axes must be a non-empty list with one entry per leading axis");
    }
    return axes.map((a, i) => axis(a, `indices.axes[${i}]`));
  }
  if (indices === null) throw new InvalidArgumentError("indices must not be null");
  return [axis(indices, "indices")];
}
