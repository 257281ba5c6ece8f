/**
 * JS values -> one contiguous C-order buffer plus dtype and shape, like
 * `np.array(results)`. Typed arrays pass through without a copy; everything
 * else is checked element by element and packed once.
 */
import { type DataType, dtypeOfTypedArray, isTypedArray, type TypedArray } from "./dtypes.js";
import { InvalidDataError } from "./errors.js";

/** An N-d array given as flat data plus shape (zarrita chunks, scijs ndarray). */
export interface NdArrayLike {
  /** The elements, flat: a typed array or an array of numbers, bigints, booleans or strings. */
  data: TypedArray | ArrayLike<unknown>;
  /** Length of each axis. */
  shape: readonly number[];
  /** Element strides; C order when absent. */
  stride?: readonly number[];
  /** Offset of the first element in `data` (scijs ndarray). */
  offset?: number;
}

/** What `save` accepts as data. */
export type SaveData =
  | TypedArray
  | readonly number[]
  | readonly bigint[]
  | readonly boolean[]
  | readonly string[]
  | readonly unknown[]
  | NdArrayLike;

/** The packed form handed to the native core. */
export interface PackedArray {
  dtype: DataType;
  shape: number[];
  /** Fixed-size elements, little-endian; a view of the caller's memory when it was a typed array. */
  bytes?: Uint8Array;
  /** Strings, for dtype "string". */
  strings?: string[];
}

type Kind = "number" | "bigint" | "boolean" | "string";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (isTypedArray(value)) return `a ${value.constructor.name}`;
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function bytesOf(array: TypedArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function fromTypedArray(array: TypedArray, shape: number[], field: string): PackedArray {
  const dtype = dtypeOfTypedArray(array);
  if (!dtype) throw new InvalidDataError(`${field}: ${array.constructor.name} is not a supported typed array`);
  if (array.length === 0) throw new InvalidDataError(`${field} is empty; nothing to save`);
  return { dtype, shape, bytes: bytesOf(array) };
}

/** Pack bigint or string leaves (numbers and booleans are packed while walking). */
function packScalars(kind: "bigint" | "string", values: unknown[], shape: number[]): PackedArray {
  switch (kind) {
    case "string": {
      const strings = values as string[];
      for (let i = 0; i < strings.length; i++) {
        // A lone surrogate has no UTF-8 form: refuse it rather than store U+FFFD.
        if (!(strings[i] as unknown as { isWellFormed(): boolean }).isWellFormed()) {
          throw new InvalidDataError(`data: the string at flat index ${i} holds a lone UTF-16 surrogate; it has no UTF-8 form`);
        }
      }
      return { dtype: "string", shape, strings };
    }
    case "bigint": {
      const ints = values as bigint[];
      let needsUnsigned = false;
      let hasNegative = false;
      for (let i = 0; i < ints.length; i++) {
        const v = ints[i] as bigint;
        if (v < INT64_MIN || v > UINT64_MAX) {
          throw new InvalidDataError(`data: bigint ${v} at flat index ${i} does not fit in 64 bits`);
        }
        if (v > INT64_MAX) needsUnsigned = true;
        if (v < 0n) hasNegative = true;
      }
      if (needsUnsigned && hasNegative) {
        throw new InvalidDataError("data: bigints mix negatives with values above 2**63-1; no 64-bit type holds both");
      }
      return needsUnsigned
        ? { dtype: "uint64", shape, bytes: bytesOf(BigUint64Array.from(ints)) }
        : { dtype: "int64", shape, bytes: bytesOf(BigInt64Array.from(ints)) };
    }
  }
}

function kindOf(value: unknown): Kind | undefined {
  const t = typeof value;
  return t === "number" || t === "bigint" || t === "boolean" || t === "string" ? (t as Kind) : undefined;
}

/** Nested arrays (possibly ending in typed arrays) -> shape and flat leaves, refusing ragged or mixed input. */
function fromNested(root: readonly unknown[], field: string): PackedArray {
  // The shape follows the first element at each depth; every other branch must agree.
  const shape: number[] = [];
  let probe: unknown = root;
  let leafTyped: TypedArray | undefined;
  while (Array.isArray(probe) || isTypedArray(probe)) {
    const node = probe as readonly unknown[] | TypedArray;
    if (node.length === 0) {
      throw new InvalidDataError(`${field}${shape.map(() => "[0]").join("")} is empty; nothing to save`);
    }
    shape.push(node.length);
    if (isTypedArray(node)) {
      leafTyped = node;
      break;
    }
    probe = node[0];
  }
  const depth = shape.length;
  const total = shape.reduce((a, b) => a * b, 1);

  if (leafTyped) {
    const dtype = dtypeOfTypedArray(leafTyped);
    if (!dtype) throw new InvalidDataError(`${field}: ${leafTyped.constructor.name} is not a supported typed array`);
    const Ctor = leafTyped.constructor as new (n: number) => TypedArray;
    const out = new Ctor(total);
    const rowLength = shape[depth - 1] as number;
    let offset = 0;
    const walk = (node: unknown, level: number, path: string): void => {
      if (level === depth - 1) {
        if (!isTypedArray(node) || dtypeOfTypedArray(node) !== dtype) {
          throw new InvalidDataError(
            `${path} is ${describe(node)}; expected a ${leafTyped?.constructor.name} like ${field}${"[0]".repeat(depth - 1)}`,
          );
        }
        if (node.length !== rowLength) {
          throw new InvalidDataError(`${path} has length ${node.length}, expected ${rowLength}: ragged data`);
        }
        (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(node as ArrayLike<unknown>, offset);
        offset += rowLength;
        return;
      }
      checkBranch(node, level, path);
      const arr = node as readonly unknown[];
      for (let i = 0; i < arr.length; i++) walk(arr[i], level + 1, `${path}[${i}]`);
    };
    walk(root, 0, field);
    return { dtype, shape, bytes: bytesOf(out) };
  }

  const kind = kindOf(probe);
  if (!kind) {
    throw new InvalidDataError(
      `${field}${"[0]".repeat(depth)} is ${describe(probe)}; expected numbers, bigints, booleans or strings`,
    );
  }
  // Numbers and booleans go straight into their typed buffer: one pass, no boxing.
  const leaves: { [i: number]: unknown } =
    kind === "number" ? new Float64Array(total) : kind === "boolean" ? new Uint8Array(total) : new Array(total);
  let n = 0;
  function checkBranch(node: unknown, level: number, path: string): void {
    if (!Array.isArray(node)) {
      throw new InvalidDataError(`${path} is ${describe(node)}, expected an array of length ${shape[level]}: ragged data`);
    }
    if (node.length !== shape[level]) {
      throw new InvalidDataError(`${path} has length ${node.length}, expected ${shape[level]}: ragged data`);
    }
  }
  const walk = (node: unknown, level: number, path: string): void => {
    checkBranch(node, level, path);
    const arr = node as readonly unknown[];
    if (level === depth - 1) {
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i];
        if (typeof v !== kind) {
          const what = kindOf(v) ? `${describe(v)} but ${field}${"[0]".repeat(depth)} is a ${kind}: mixed kinds` : describe(v);
          throw new InvalidDataError(`${path}[${i}] is ${what}`);
        }
        leaves[n++] = kind === "boolean" ? (v ? 1 : 0) : v;
      }
      return;
    }
    for (let i = 0; i < arr.length; i++) walk(arr[i], level + 1, `${path}[${i}]`);
  };
  walk(root, 0, field);
  if (leaves instanceof Float64Array) return { dtype: "float64", shape, bytes: bytesOf(leaves) };
  if (leaves instanceof Uint8Array) return { dtype: "bool", shape, bytes: leaves };
  return packScalars(kind as "bigint" | "string", leaves as unknown[], shape);
}

function isNdArrayLike(value: unknown): value is NdArrayLike {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<NdArrayLike>;
  return Array.isArray(v.shape) && (isTypedArray(v.data) || Array.isArray(v.data));
}

/** `{ data, shape, stride?, offset? }` -> C-order packed array (copies only when strided). */
function fromNdArrayLike(value: NdArrayLike, field: string): PackedArray {
  const shape = [...value.shape];
  if (shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidDataError(`${field}.shape must be a non-empty list of non-negative integers; got [${shape}]`);
  }
  const total = shape.reduce((a, b) => a * b, 1);
  if (total === 0) throw new InvalidDataError(`${field} has shape [${shape}]: empty; nothing to save`);
  // The common case, a typed array in C order (a batch of rows): viewed as it is.
  const whole = value.stride === undefined && (value.offset ?? 0) === 0 && isTypedArray(value.data);
  if (whole && value.data.length === total) return fromTypedArray(value.data as TypedArray, shape, field);
  const cStride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const stride = value.stride ? [...value.stride] : cStride;
  const offset = value.offset ?? 0;
  if (stride.length !== shape.length) {
    throw new InvalidDataError(`${field}.stride has ${stride.length} entries for ${shape.length} dimensions`);
  }
  const contiguous = offset === 0 && stride.every((s, i) => s === cStride[i] || (shape[i] as number) === 1);
  const source = value.data;
  let data: TypedArray | unknown[];
  if (contiguous) {
    if (source.length < total) {
      throw new InvalidDataError(`${field}.data holds ${source.length} elements but shape [${shape}] needs ${total}`);
    }
    data = isTypedArray(source) ? (source.subarray(0, total) as TypedArray) : Array.prototype.slice.call(source, 0, total);
  } else {
    // Gather a strided view (e.g. a transposed ndarray) into C order.
    const Ctor = isTypedArray(source) ? (source.constructor as new (n: number) => TypedArray) : Array;
    const out = new Ctor(total) as unknown as { [i: number]: unknown };
    const index = new Array<number>(shape.length).fill(0);
    for (let flat = 0; flat < total; flat++) {
      let src = offset;
      for (let d = 0; d < shape.length; d++) src += (index[d] as number) * (stride[d] as number);
      if (src < 0 || src >= source.length) {
        throw new InvalidDataError(
          `${field}: stride [${stride}] with offset ${offset} reads outside data (length ${source.length})`,
        );
      }
      out[flat] = (source as ArrayLike<unknown>)[src];
      for (let d = shape.length - 1; d >= 0; d--) {
        index[d] = (index[d] as number) + 1;
        if ((index[d] as number) < (shape[d] as number)) break;
        index[d] = 0;
      }
    }
    data = out as unknown as TypedArray | unknown[];
  }
  if (isTypedArray(data)) return fromTypedArray(data, shape, field);
  const flat = fromNested(data as unknown[], `${field}.data`);
  return { ...flat, shape };
}

/**
 * Convert `data` to a {@link PackedArray}, or throw {@link InvalidDataError}
 * naming where the input goes wrong.
 */
export function packData(data: unknown, field = "data"): PackedArray {
  if (isTypedArray(data)) return fromTypedArray(data, [data.length], field);
  if (Array.isArray(data)) {
    if (data.length === 0) throw new InvalidDataError(`${field} is empty; nothing to save`);
    return fromNested(data, field);
  }
  if (isNdArrayLike(data)) return fromNdArrayLike(data, field);
  throw new InvalidDataError(`${field} must be an array, a typed array or { data, shape }; got ${describe(data)}`);
}
