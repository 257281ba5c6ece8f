export { Blosc, type BloscCname, type BloscShuffle, type CodecConfig, GZip, Zstd } from "./codecs.js";
export type { NdArrayLike, SaveData } from "./convert.js";
export { DATA_TYPES, type DataType, type TypedArray } from "./dtypes.js";
export {
  ConflictError,
  CorruptMetadataError,
  DatasetNotFoundError,
  DtypeMismatchError,
  type ErrorCode,
  IndicesRequiredError,
  InvalidArgumentError,
  InvalidDataError,
  NativeUnavailableError,
  OsError,
  OutOfBoundsError,
  ShapeMismatchError,
  StoreError,
  UnsupportedError,
  ZarrSaverError,
} from "./errors.js";
export { type AxisIndex, type Indices, type Slice, slice } from "./indices.js";
export { HAS_NATIVE } from "./native.js";
export type { Approach, SaveOptions, StorageOptions, ZarrSaverOptions } from "./options.js";
export { type SaveResult, type Saver, ZarrSaver } from "./saver.js";
