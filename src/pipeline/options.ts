/** Options of TaskManager and submitTasks: declared with their defaults, checked once. */
import { availableParallelism } from "node:os";
import { InvalidArgumentError } from "../errors.js";
import type { SaveOptions } from "../options.js";
import type { Saver } from "../saver.js";
import type { ProgressCallback } from "./progress.js";
import type { QueueOptions } from "./queue.js";

/** Options of `new TaskManager(task, options)`. */
export interface TaskManagerOptions {
  /**
   * Worker threads for a task module (default: `os.availableParallelism()`); for
   * a task factory, how many task objects run units concurrently in this thread
   * (default 1; more only helps async, I/O-bound tasks). Not used with `queue`:
   * there, each worker's `concurrency` says how many jobs it computes at once.
   */
  workers?: number;
  /**
   * Run the task on queue workers over a Redis server instead of in this process
   * (needs a task module and the optional dependency `bullmq`): `submitTasks`
   * enqueues jobs of items, and workers started anywhere with `zarr-saver worker`
   * or {@link startWorker} compute them. See docs/pipeline.md.
   */
  queue?: QueueOptions;
}

/** Options of `submitTasks(items, options)`. */
export interface SubmitOptions {
  /** Where results go, every `saveInterval` results; without one, `getResults()` returns them. */
  saver?: Saver;
  /** Results per `saver.save` call (default 100); the last call gets the remainder. */
  saveInterval?: number;
  /** Items handed to a task at once (default 100): one `processItems` call with `atOnce`, else one message to a worker. */
  chunkSize?: number;
  /** Call `processItems(chunk)` instead of `processItem(item)` (default false). */
  atOnce?: boolean;
  /** Called after every computed chunk and every finished save. */
  onProgress?: ProgressCallback;
  /** Draw a progress bar on stderr (default: when stderr is a terminal). */
  progressBar?: boolean;
  /** Number of items, for progress, when `items` is an iterable (an array's length is used otherwise). */
  total?: number;
  /** Passed to every `saver.save(batch, saveOptions)` (chunks, dtype, compressor ...). */
  saveOptions?: SaveOptions;
  /**
   * Batches that may wait behind the running save (default 2). When that many
   * wait, no new work is dispatched until a save finishes: memory stays bounded
   * when the saver is slower than the tasks.
   */
  maxPendingSaves?: number;
  /**
   * Stops the run: `submitTasks` rejects with the signal's reason once running
   * work has settled (on a queue: the run's jobs left in Redis are removed).
   */
  signal?: AbortSignal;
  /**
   * Continue an interrupted run of the same items into the same dataset (needs a
   * ZarrSaver that appends along axis 0; default false). Item `i` belongs at row
   * `i`: the dataset must hold this run's rows only. In this process, the first
   * `length` items are skipped (saves append in order, so every row below the
   * length is written). On a queue, a job's items are skipped when every chunk
   * holding their rows is stored, except the first job's, which is always redone;
   * other rows are computed and written again. See docs/pipeline.md.
   */
  resume?: boolean;
}

export interface ResolvedSubmitOptions {
  saver: Saver | undefined;
  saveInterval: number;
  chunkSize: number;
  atOnce: boolean;
  onProgress: ProgressCallback | undefined;
  progressBar: boolean;
  total: number | undefined;
  saveOptions: SaveOptions | undefined;
  maxPendingSaves: number;
  signal: AbortSignal | undefined;
  resume: boolean;
}

const SUBMIT_KEYS = new Set([
  "signal",
  "resume",
  "saver",
  "saveInterval",
  "chunkSize",
  "atOnce",
  "onProgress",
  "progressBar",
  "total",
  "saveOptions",
  "maxPendingSaves",
]);
/** What a Python user may type, and what to type instead. */
const SNAKE_CASE: Record<string, string> = { save_interval: "saveInterval", chunk_size: "chunkSize", at_once: "atOnce" };

function positiveInteger(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(
      `${field} must be a positive integer; got ${typeof value === "number" ? value : (JSON.stringify(value) ?? String(value))}`,
    );
  }
  return value;
}

/** Default number of lanes: one thread per core for worker threads, one task object in-process. */
export function resolveWorkers(options: TaskManagerOptions | undefined, threaded: boolean): number {
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw new InvalidArgumentError("TaskManager options must be an object");
  for (const key of Object.keys(options ?? {})) {
    if (key !== "workers" && key !== "queue")
      throw new InvalidArgumentError(`TaskManager: unknown option '${key}'; expected workers or queue`);
  }
  return positiveInteger("workers", options?.workers, threaded ? availableParallelism() : 1);
}

export function resolveSubmitOptions(options: SubmitOptions | undefined): ResolvedSubmitOptions {
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw new InvalidArgumentError("submitTasks options must be an object");
  const o = options ?? {};
  for (const key of Object.keys(o)) {
    if (!SUBMIT_KEYS.has(key)) {
      const hint = SNAKE_CASE[key] !== undefined ? ` (did you mean ${SNAKE_CASE[key]}?)` : "";
      throw new InvalidArgumentError(
        `submitTasks: unknown option '${key}'${hint}; expected one of ${[...SUBMIT_KEYS].join(", ")}`,
      );
    }
  }
  if (o.saver !== undefined && (o.saver === null || typeof (o.saver as Partial<Saver>).save !== "function")) {
    throw new InvalidArgumentError("saver must have a save(data, options) method (a ZarrSaver, or any Saver)");
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== "function")
    throw new InvalidArgumentError("onProgress must be a function");
  if (o.atOnce !== undefined && typeof o.atOnce !== "boolean") throw new InvalidArgumentError("atOnce must be a boolean");
  if (o.resume !== undefined && typeof o.resume !== "boolean") throw new InvalidArgumentError("resume must be a boolean");
  if (o.progressBar !== undefined && typeof o.progressBar !== "boolean")
    throw new InvalidArgumentError("progressBar must be a boolean");
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new InvalidArgumentError("signal must be an AbortSignal");
  if (o.total !== undefined && (typeof o.total !== "number" || !Number.isSafeInteger(o.total) || o.total < 0)) {
    throw new InvalidArgumentError(`total must be a non-negative integer; got ${String(o.total)}`);
  }
  return {
    saver: o.saver,
    saveInterval: positiveInteger("saveInterval", o.saveInterval, 100),
    chunkSize: positiveInteger("chunkSize", o.chunkSize, 100),
    atOnce: o.atOnce ?? false,
    onProgress: o.onProgress,
    progressBar: o.progressBar ?? process.stderr.isTTY === true,
    total: o.total,
    saveOptions: o.saveOptions,
    maxPendingSaves: positiveInteger("maxPendingSaves", o.maxPendingSaves, 2),
    signal: o.signal,
    resume: o.resume ?? false,
  };
}
