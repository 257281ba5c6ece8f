/** `ZarrSaver`: the public saver, a drop-in for the zarrita.js saver it replaces. */

import { controlled, reportOnce } from "./control.js";
import { packData, type SaveData } from "./convert.js";
import type { DataType } from "./dtypes.js";
import { fromNativeError, IndicesRequiredError, InvalidArgumentError } from "./errors.js";
import type { Indices } from "./indices.js";
import { redact, resolveLocation, validateDatasetName } from "./location.js";
import {
  type NativeBinding,
  type NativeIcechunk,
  type NativeSaveOptions,
  type NativeSaveResult,
  nativeBinding,
} from "./native.js";
import {
  type Approach,
  checkSaverOptions,
  parseApproach,
  parseFlag,
  parseMaxChunkBytes,
  resolveIcechunk,
  resolveSaveOptions,
  resolveStorageOptions,
  type SaveOptions,
  type SaveProgress,
  type ZarrSaverOptions,
} from "./options.js";

/** What a save wrote. */
export interface SaveResult {
  /** Shape of the array after the save. */
  shape: number[];
  /** Stored dtype. */
  dtype: DataType;
  /** Per axis, `[start, stop)` of the region this save wrote. */
  region: [number, number][];
  /** Whether this save created (or, with overwrite, re-created) the array. */
  created: boolean;
  /**
   * With `icechunk`: the id of the snapshot this save committed, as Icechunk names it
   * (`repo.readonly_session(snapshot_id=...)` opens the repository as this save left it).
   */
  snapshotId?: string;
}

/** A request ready for the core, with the packed data it reads. */
interface Prepared {
  request: NativeSaveOptions;
  bytes?: Uint8Array;
  strings?: string[];
  signal?: AbortSignal;
  onProgress?: (progress: SaveProgress) => void;
}

/** Run one save on the libuv pool, its AbortSignal and progress wired to a native control. */
async function runAsync(native: NativeBinding, job: Prepared): Promise<SaveResult> {
  const { request, bytes, strings } = job;
  return toResult(await controlled(native, job, (control) => native.save(request, bytes, strings, control)));
}

/** What a `TaskManager` drives: anything that can save a batch of results. */
export interface Saver {
  /** Persist one batch of results; the Promise settles when the batch is saved. */
  save(data: SaveData, options?: SaveOptions): Promise<unknown>;
}

/**
 * Tail of the queue of saves per dataset in this process: saves to one dataset
 * run one at a time, in call order, even when nobody awaits them.
 */
const queues = new Map<string, Promise<unknown>>();

export function enqueue<T>(key: string, job: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(job, job);
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  // Forget the queue once it drains so long-lived processes don't accumulate keys.
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

/** A native result as the public type. */
export function toResult(r: NativeSaveResult): SaveResult {
  return {
    shape: r.shape,
    dtype: r.dtype,
    region: r.region.map(([a, b]) => [a, b] as [number, number]),
    created: r.created,
    ...(typeof r.snapshotId === "string" ? { snapshotId: r.snapshotId } : {}),
  };
}

function isIndices(value: unknown): value is Indices {
  return (
    typeof value === "number" ||
    Array.isArray(value) ||
    (typeof value === "object" && value !== null && ("axes" in value || "start" in value || "stop" in value || "step" in value))
  );
}

/** Accept both `save(data, options)` and the positional `save(data, indices, options?)`. */
function normalizeArgs(second: unknown, third: unknown): SaveOptions {
  if (third === undefined && !isIndices(second)) return (second ?? {}) as SaveOptions;
  if (second !== undefined && second !== null && !isIndices(second)) {
    throw new InvalidArgumentError("save(data, indices, options): indices must be a number, a list, a slice or { axes }");
  }
  return {
    ...((third ?? {}) as SaveOptions),
    ...(second === undefined || second === null ? {} : { indices: second as Indices }),
  };
}

/** What a queue worker needs to write into a ZarrSaver's dataset itself (see the pipeline's distributed runs). */
export interface SaverTarget {
  /** The resolved location: an absolute local path or an object-store URL. */
  location: string;
  dataset: string;
  approach: Approach;
  storageOptions: Record<string, string> | undefined;
  threads: number | undefined;
  concurrency: number | undefined;
  durable: boolean;
  /** The dataset is in an Icechunk repository. */
  icechunk: boolean;
}

/** The target of `saver`, read by the pipeline only; set by ZarrSaver's static block. */
export let saverTarget: (saver: ZarrSaver) => SaverTarget;

/**
 * An update whose chunks no other writer touches (a queue job's chunk-aligned
 * rows): on object stores it takes no lease and does not wait behind this
 * process's other saves of the dataset. The pipeline's only; set by ZarrSaver's
 * static block.
 */
export let saveExclusiveChunks: (saver: ZarrSaver, data: SaveData, options: SaveOptions) => Promise<SaveResult>;

/**
 * Saves batches of results into one Zarr array.
 *
 * ```ts
 * const saver = new ZarrSaver("results.zarr", { datasetName: "experiment_1" });
 * await saver.save([1, 2, 3]);   // creates the array
 * await saver.save([4, 5]);      // appends along axis 0
 * ```
 */
export class ZarrSaver implements Saver {
  /** The container as given. */
  readonly filePath: string;
  /** Path of the array inside the container. */
  readonly datasetName: string;
  /** append, overwrite or update. */
  readonly approach: Approach;
  /** Object-store client options, resolved once; never printed. */
  readonly #storageOptions: Record<string, string> | undefined;
  readonly #location: string;
  readonly #threads: number | undefined;
  readonly #concurrency: number | undefined;
  readonly #durable: boolean;
  readonly #icechunk: NativeIcechunk | undefined;
  readonly #maxChunkBytes: number | undefined;

  static {
    saverTarget = (saver) => ({
      location: saver.#location,
      dataset: saver.datasetName,
      approach: saver.approach,
      storageOptions: saver.#storageOptions,
      threads: saver.#threads,
      concurrency: saver.#concurrency,
      durable: saver.#durable,
      icechunk: saver.#icechunk !== undefined,
    });
    saveExclusiveChunks = (saver, data, options) => {
      let prepared: Prepared;
      let native: NativeBinding;
      try {
        native = nativeBinding();
        prepared = saver.#prepare(data, options, undefined);
      } catch (err) {
        return Promise.reject(err);
      }
      prepared.request.exclusiveChunks = true;
      return runAsync(native, prepared);
    };
  }

  constructor(filePath: string | URL, options?: ZarrSaverOptions);
  /** The positional form, as the Python saver takes it: `new ZarrSaver(filePath, datasetName?, approach?)`. */
  constructor(filePath: string | URL, datasetName?: string, approach?: Approach | string);
  constructor(filePath: string | URL, second?: ZarrSaverOptions | string, approach?: Approach | string) {
    const options: ZarrSaverOptions =
      typeof second === "string" || second === undefined
        ? { ...(second !== undefined ? { datasetName: second } : {}), ...(approach !== undefined ? { approach } : {}) }
        : second;
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("options must be an object or a dataset name");
    }
    checkSaverOptions(options);
    this.#location = resolveLocation(filePath);
    this.filePath = filePath instanceof URL ? filePath.href : filePath;
    this.datasetName = validateDatasetName(options.datasetName ?? "dataset");
    this.approach = parseApproach(options.approach ?? "append");
    this.#storageOptions = resolveStorageOptions(options.storageOptions);
    this.#threads = options.threads;
    this.#concurrency = options.concurrency;
    this.#durable = parseFlag(options.durable, "durable") ?? false;
    this.#icechunk = resolveIcechunk(options.icechunk);
    this.#maxChunkBytes = parseMaxChunkBytes(options.maxChunkBytes);
  }

  /** Everything that can fail before the core runs, checked while the caller still holds its data. */
  #prepare(data: SaveData, second: unknown, third: unknown): Prepared {
    const options = normalizeArgs(second, third);
    const { signal, onProgress } = options;
    if (this.approach === "update" && (options === null || typeof options !== "object" || options.indices === undefined)) {
      throw new IndicesRequiredError(
        `approach 'update' needs indices: save(data, { indices }) with a number, a list, a slice or { axes } (dataset '${this.datasetName}')`,
      );
    }
    const packed = packData(data);
    const target = {
      location: this.#location,
      dataset: this.datasetName,
      approach: this.approach,
      threads: this.#threads,
      storageOptions: this.#storageOptions,
      concurrency: this.#concurrency,
      durable: this.#durable,
      icechunk: this.#icechunk,
      maxChunkBytes: this.#maxChunkBytes,
    };
    const request = resolveSaveOptions(target, packed, options);
    return { request, bytes: packed.bytes, strings: packed.strings, signal, onProgress };
  }

  /**
   * Save a batch off the JS thread. Resolves with what was written.
   * A typed array is read in place: leave it untouched until the Promise settles.
   */
  save(data: SaveData, options?: SaveOptions): Promise<SaveResult>;
  /** The positional form, as the Python saver takes it: `save(data, indices, options?)`. */
  save(data: SaveData, indices: Indices, options?: SaveOptions): Promise<SaveResult>;
  save(data: SaveData, second?: unknown, third?: unknown): Promise<SaveResult> {
    let prepared: Prepared;
    let native: ReturnType<typeof nativeBinding>;
    try {
      native = nativeBinding();
      prepared = this.#prepare(data, second, third);
    } catch (err) {
      return Promise.reject(err);
    }
    return enqueue(this.#queueKey(), () => runAsync(native, prepared));
  }

  /** Same as {@link save}, blocking the calling thread. */
  saveSync(data: SaveData, options?: SaveOptions): SaveResult;
  saveSync(data: SaveData, indices: Indices, options?: SaveOptions): SaveResult;
  saveSync(data: SaveData, second?: unknown, third?: unknown): SaveResult {
    const native = nativeBinding();
    const { request, bytes, strings, signal, onProgress } = this.#prepare(data, second, third);
    if (signal) {
      throw new InvalidArgumentError("signal needs save(): saveSync blocks the thread that would abort it");
    }
    const control = new native.SaveControl();
    let result: SaveResult;
    try {
      result = toResult(native.saveSync(request, bytes, strings, control));
    } catch (err) {
      throw fromNativeError(err);
    }
    reportOnce(control, onProgress);
    return result;
  }

  #queueKey(): string {
    return `${this.#location}\0${this.datasetName}`;
  }

  /** Credentials stay out of logs and JSON. */
  toJSON(): {
    /** The container, with any `user:password@` in it masked. */
    filePath: string;
    /** The dataset's path inside the container. */
    datasetName: string;
    /** What saves do. */
    approach: Approach;
  } {
    return { filePath: redact(this.filePath), datasetName: this.datasetName, approach: this.approach };
  }
}
