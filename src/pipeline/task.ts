/** What a task is, and the contract between the dispatch loop and whatever runs tasks (an executor). */

/** A result or a promise of it: task methods may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The work done on items. Give it `processItem` (called once per item) and/or
 * `processItems` (called with a chunk of items when
 * `submitTasks(..., { atOnce: true })`, returning one result per item). Either
 * may be async.
 */
export interface Task<I = unknown, R = unknown> {
  /** Compute the result of one item. */
  processItem?(item: I): MaybePromise<R>;
  /** Compute the results of a chunk of items, one per item, in the same order. */
  processItems?(items: I[]): MaybePromise<readonly R[] | ArrayLike<R>>;
}

/** Builds a task object; the TaskManager calls it once per in-process lane. */
export type TaskFactory<I = unknown, R = unknown> = () => Task<I, R>;

/** A task class, as in `new TaskManager(MyTask)`: constructed with no arguments, once per in-process lane. */
export type TaskClass<I = unknown, R = unknown> = new () => Task<I, R>;

/**
 * How a TaskManager gets its task: a factory or a class runs tasks in this
 * thread; a module (a `file:` or `data:` URL, a `URL`, or a path resolved
 * against the working directory) whose default export is the task class runs
 * them in worker threads.
 */
export type TaskSource<I = unknown, R = unknown> = TaskFactory<I, R> | TaskClass<I, R> | string | URL;

/** Consecutive items handed to one lane at once: `items[k]` is item `start + k`. */
export interface Unit<I> {
  start: number;
  items: I[];
}

/**
 * Runs units of type `U` and answers each with an output `O`: task objects in
 * this thread and worker threads answer with the unit's results, queue workers
 * with its results or with the rows they wrote. One per `submitTasks` call.
 */
export interface Executor<U, O> {
  /** How many units may be in flight at once. */
  readonly capacity: number;
  /** The unit's output; rejects with a TaskFailedError (or the error that ends the run). */
  run(unit: U): Promise<O>;
  /** Stop everything (terminating worker threads) and resolve once it is stopped; units in flight settle. */
  close(): Promise<void>;
  /** Worker threads still running (0 in-process and on a queue). */
  readonly activeWorkers: number;
}

/**
 * `task` as a task object that has the method `atOnce` calls, or a TypeError
 * naming `subject` (say, "the task of file:///.../task.mjs"). Both executors
 * check a task this way, so a task missing its method fails alike in this
 * thread and in a worker.
 */
export function checkTask<I, R>(task: unknown, atOnce: boolean, subject = "the task"): Task<I, R> {
  const method = atOnce ? "processItems" : "processItem";
  if (task === null || (typeof task !== "object" && typeof task !== "function")) {
    throw new TypeError(`a task must be an object with ${method}(); got ${task === null ? "null" : typeof task}`);
  }
  if (typeof (task as Record<string, unknown>)[method] !== "function") {
    throw new TypeError(
      atOnce
        ? `atOnce: true calls processItems(items), and ${subject} has no processItems method`
        : `${subject} has no processItem method (use atOnce: true to call processItems)`,
    );
  }
  return task as Task<I, R>;
}
