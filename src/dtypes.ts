import type { DataType as NativeDataType } from "./native.js";
import type { SameUnion } from "./same-union.js";

/** Element types, named as Zarr v3 `data_type` (and numpy) name them. */
export type DataType =
  | "bool"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float32"
  | "float64"
  | "string";

// The core's type is generated from its enum: a dtype added on one side only fails to compile.
true satisfies SameUnion<DataType, NativeDataType>;

/**
 * Every {@link DataType}, in a stable order. The core owns the list (a test holds
 * this copy to it); the facade needs it to name the choices before a save.
 */
export const DATA_TYPES: readonly DataType[] = [
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "float32",
  "float64",
  "string",
];

/** Typed arrays that zarr-saver takes without copying. */
export type TypedArray =
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** The one table from typed-array constructor to dtype. */
const DTYPE_OF_CONSTRUCTOR = new Map<unknown, DataType>([
  [Int8Array, "int8"],
  [Int16Array, "int16"],
  [Int32Array, "int32"],
  [BigInt64Array, "int64"],
  [Uint8Array, "uint8"],
  [Uint8ClampedArray, "uint8"],
  [Uint16Array, "uint16"],
  [Uint32Array, "uint32"],
  [BigUint64Array, "uint64"],
  [Float32Array, "float32"],
  [Float64Array, "float64"],
]);

export function isTypedArray(value: unknown): value is TypedArray {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/** The dtype a typed array carries (a Node `Buffer` is uint8). */
export function dtypeOfTypedArray(array: TypedArray): DataType | undefined {
  let proto: unknown = Object.getPrototypeOf(array);
  // Walk up so subclasses (Buffer extends Uint8Array) map to their base.
  while (proto) {
    const dtype = DTYPE_OF_CONSTRUCTOR.get((proto as { constructor: unknown }).constructor);
    if (dtype) return dtype;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

export function isDataType(value: unknown): value is DataType {
  return typeof value === "string" && (DATA_TYPES as readonly string[]).includes(value);
}
