/** The pipeline's error: which item failed, at which stage, and why. */
import { ZarrSaverError } from "../errors.js";
import type { Unit } from "./task.js";

/** Code of {@link TaskFailedError}; only the pipeline raises it (the native core never reports it). */
export const TASK_FAILED: "ERR_ZARR_TASK_FAILED" = "ERR_ZARR_TASK_FAILED";

/**
 * Where a pipeline failure happened:
 * - `load`: the task could not start (the factory threw, the module failed to
 *   import, its default export has no `processItem` / `processItems`, a worker
 *   thread could not run it);
 * - `task`: `processItem` / `processItems` threw or rejected, returned the wrong
 *   number of results, or a result could not be sent back from its worker;
 * - `save`: the saver rejected a batch.
 */
export type TaskStage = "load" | "task" | "save";

/** What a {@link TaskFailedError} reports. */
export interface TaskFailure {
  stage: TaskStage;
  /** Index (in input order) of the failing item, or of the first item of the failing chunk or batch. */
  index: number;
  /** How many items the failure covers: 1 for one item, the chunk size for `processItems`, the batch size for a save. */
  count: number;
  /** The failing item itself, when the failure is about one item. */
  item?: unknown;
  /** What the task or saver threw (errors from worker threads are rebuilt with their name, message, stack and code). */
  cause: unknown;
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.name && cause.name !== "Error" ? `${cause.name}: ${cause.message}` : cause.message;
  return String(cause);
}

function itemsLabel(index: number, count: number): string {
  return count === 1 ? `item ${index}` : `items ${index}..${index + count - 1}`;
}

/**
 * A task or the saver failed during `TaskManager.submitTasks`. The message names
 * the item index; `cause` keeps what was thrown. Its `code` is
 * `"ERR_ZARR_TASK_FAILED"`.
 */
export class TaskFailedError extends ZarrSaverError {
  /** load, task or save. */
  readonly stage: TaskStage;
  /** Index of the failing item, or of the first item of the failing chunk or batch. */
  readonly index: number;
  /** Number of items the failure covers. */
  readonly count: number;
  /** The failing item, when the failure is about one item. */
  readonly item: unknown;

  constructor(failure: TaskFailure) {
    const { stage, index, count, cause } = failure;
    const what = itemsLabel(index, count);
    const message =
      stage === "save"
        ? `saving the results of ${what} failed: ${describe(cause)}`
        : stage === "load"
          ? `the task could not start (${what}): ${describe(cause)}`
          : `task failed on ${what}${count > 1 ? " (processItems)" : ""}: ${describe(cause)}`;
    super(TASK_FAILED, message, { cause });
    this.stage = stage;
    this.index = index;
    this.count = count;
    this.item = failure.item;
  }
}

/**
 * The failure of `count` items of `unit` from position `offset` on: names the
 * item itself when it is one item. Both executors report a failing unit with it.
 */
export function unitFailure<I>(unit: Unit<I>, stage: TaskStage, offset: number, count: number, cause: unknown): TaskFailedError {
  const index = unit.start + offset;
  return new TaskFailedError(
    count === 1 ? { stage, index, count, item: unit.items[offset], cause } : { stage, index, count, cause },
  );
}

/** Code of {@link QueueUnavailableError}. */
export const QUEUE_UNAVAILABLE: "ERR_ZARR_QUEUE_UNAVAILABLE" = "ERR_ZARR_QUEUE_UNAVAILABLE";

/**
 * The Redis server behind a distributed `TaskManager` or a queue worker could
 * not be reached, stopped answering, or lost a job of the run. Raised within the
 * queue's `timeout` (default 10 s) rather than waiting for a server that may not
 * come back; `cause` keeps the client's error when there is one. Its `code` is
 * `"ERR_ZARR_QUEUE_UNAVAILABLE"`.
 */
export class QueueUnavailableError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(QUEUE_UNAVAILABLE, message, options);
  }
}
