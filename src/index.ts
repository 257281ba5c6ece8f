/** The package's public API: every name a user imports, re-exported from the module that owns it. */
export { Blosc, type BloscCname, type BloscShuffle, type CodecConfig, GZip, Zstd } from "./codecs.js";
export type { NdArrayLike, SaveData } from "./convert.js";
export type { SaveResult } from "./destination.js";
export { DATA_TYPES, type DataType, type TypedArray } from "./dtypes.js";
export {
  ConflictError,
  CorruptMetadataError,
  DatasetNotFoundError,
  DtypeMismatchError,
  type ErrorCode,
  IndicesRequiredError,
  InternalError,
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
export { type ArrayOptions, type GroupSaveOptions, GroupSaver, type GroupSaverOptions } from "./group-saver.js";
export { type AxisIndex, type Indices, type Slice, slice } from "./indices.js";
export { HAS_NATIVE } from "./native.js";
export type {
  Approach,
  IcechunkOptions,
  SaveOptions,
  SaveProgress,
  StorageOptions,
  ZarrSaverOptions,
} from "./options.js";
// Pipeline: TaskManager drives a Saver from many tasks, in item order.
export type { SubmitSummary } from "./pipeline/dispatch.js";
export { QueueUnavailableError, TaskFailedError, type TaskFailure, type TaskStage } from "./pipeline/errors.js";
export type { TaskItems } from "./pipeline/input.js";
export type { SubmitOptions, TaskManagerOptions } from "./pipeline/options.js";
export type { Progress, ProgressCallback } from "./pipeline/progress.js";
export type { QueueOptions, RedisConnection, RedisConnectionOptions } from "./pipeline/queue.js";
export { type QueueWorker, type QueueWorkerOptions, startWorker } from "./pipeline/queue-worker.js";
export type { MaybePromise, Task, TaskClass, TaskFactory, TaskSource } from "./pipeline/task.js";
export { TaskManager } from "./pipeline/task-manager.js";
export { type Saver, ZarrSaver } from "./saver.js";
