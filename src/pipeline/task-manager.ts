/**
 * `TaskManager`, the pipeline's public face: runs a task over many items, in this
 * thread, in worker threads or on queue workers, and feeds the results to a saver
 * in item order every `saveInterval` results while computing goes on. It picks
 * the executor and the sink of each run; the dispatch loop (dispatch.ts) runs them.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { InvalidArgumentError } from "../errors.js";
import { AppendTarget } from "./append-target.js";
import { dispatch, type SubmitSummary } from "./dispatch.js";
import { InPlaceSink, inPlaceJobs, type PlacedUnit, type RowsWritten } from "./in-place.js";
import { InProcessExecutor } from "./in-process.js";
import { checkItems, ItemSource, type TaskItems } from "./input.js";
import {
  type ResolvedSubmitOptions,
  resolveSubmitOptions,
  resolveWorkers,
  type SubmitOptions,
  type TaskManagerOptions,
} from "./options.js";
import { OrderedSaves } from "./ordered-saves.js";
import { type ResolvedQueueOptions, resolveQueueOptions } from "./queue.js";
import { type JobCodec, QueueExecutor, resultJobs } from "./queue-executor.js";
import type { Executor, TaskClass, TaskFactory, TaskSource, Unit } from "./task.js";
import { WorkerPool } from "./workers.js";

/** A TaskManager's queue, and the task module its workers import. */
interface QueueRun {
  options: ResolvedQueueOptions;
  moduleUrl: string;
}

function isClass(fn: object): boolean {
  if (Function.prototype.toString.call(fn).startsWith("class")) return true;
  // A class compiled to a function: its methods sit on the prototype.
  const proto: unknown = (fn as { prototype?: unknown }).prototype;
  return typeof proto === "object" && proto !== null && ("processItem" in proto || "processItems" in proto);
}

/** An absolute URL for `import()` in a worker; a missing file is refused here rather than in every thread. */
function resolveModuleUrl(source: string | URL): string {
  // A scheme of two letters or more, so that C:\ stays a path.
  const url =
    source instanceof URL ? source : /^[a-z][a-z\d+.-]+:/i.test(source) ? new URL(source) : pathToFileURL(resolve(source));
  if (url.protocol !== "file:" && url.protocol !== "data:") {
    throw new InvalidArgumentError(`task module must be a file: or data: URL or a path; got ${url.protocol} URL`);
  }
  if (url.protocol === "file:" && !existsSync(fileURLToPath(url))) {
    throw new InvalidArgumentError(`task module not found: ${fileURLToPath(url)}`);
  }
  return url.href;
}

/**
 * Runs a task over items and saves the results in order.
 *
 * ```ts
 * // In this thread (a factory or a class):
 * const tm = new TaskManager(() => ({ processItem: (x: number) => x * x }));
 * await tm.submitTasks(items, { saver: new ZarrSaver("out.zarr"), saveInterval: 1000 });
 *
 * // In 4 worker threads: a module whose default export is the task class.
 * const pool = new TaskManager(new URL("./task.mjs", import.meta.url), { workers: 4 });
 * await pool.submitTasks(items);
 * pool.getResults();
 * ```
 *
 * Results reach `saver.save` in item order, in batches of exactly `saveInterval`
 * and once more for the remainder; one save runs at a time while tasks keep
 * computing. A failing task or save rejects with {@link TaskFailedError}; worker
 * threads are terminated when a run ends, whichever way it ends.
 */
export class TaskManager<I = unknown, R = unknown> {
  /** Worker threads (task module) or concurrent task objects (factory or class). */
  readonly workers: number;
  /** The task module's URL, when tasks run in worker threads. */
  readonly moduleUrl: string | undefined;
  readonly #factory: TaskFactory<I, R> | undefined;
  readonly #queue: QueueRun | undefined;
  #executor: { readonly activeWorkers: number } | undefined;
  #results: R[] = [];
  #running = false;

  constructor(task: TaskSource<I, R>, options?: TaskManagerOptions) {
    if (typeof task === "function") {
      const fn = task;
      this.#factory = isClass(fn) ? () => new (fn as TaskClass<I, R>)() : (fn as TaskFactory<I, R>);
      this.moduleUrl = undefined;
    } else if (typeof task === "string" || task instanceof URL) {
      this.moduleUrl = resolveModuleUrl(task);
    } else {
      throw new InvalidArgumentError(
        `TaskManager needs a task factory, a task class, or the URL of a module whose default export is the task class; got ${task === null ? "null" : typeof task}`,
      );
    }
    this.workers = resolveWorkers(options, this.moduleUrl !== undefined);
    if (options?.queue !== undefined) {
      if (this.moduleUrl === undefined) {
        throw new InvalidArgumentError(
          "queue needs a task module (its URL or path): workers on other machines import it; a factory or class runs only here",
        );
      }
      this.#queue = { options: resolveQueueOptions(options.queue), moduleUrl: this.moduleUrl };
    }
  }

  /** The queue's name, when tasks run on queue workers. */
  get queueName(): string | undefined {
    return this.#queue?.options.name;
  }

  /** Worker threads running now: 0 once `submitTasks` has settled. */
  get activeWorkers(): number {
    return this.#executor?.activeWorkers ?? 0;
  }

  /**
   * Run the task over `items` (an array, an iterable or an async iterable,
   * pulled as work is dispatched). Resolves once every result is saved (or
   * collected for {@link getResults}); rejects with {@link TaskFailedError} when
   * a task or a save fails, after stopping the workers and the running save.
   */
  async submitTasks(items: TaskItems<I>, options?: SubmitOptions): Promise<SubmitSummary> {
    if (this.#running) throw new InvalidArgumentError("submitTasks is already running on this TaskManager; await it first");
    const resolved = resolveSubmitOptions(options);
    checkItems(items);
    const target = AppendTarget.of(resolved);
    if (resolved.resume && target === undefined) {
      throw new InvalidArgumentError("resume needs a ZarrSaver that appends along axis 0 as the saver");
    }
    this.#running = true;
    this.#results = [];
    const source = new ItemSource<I>(items);
    try {
      // On a queue with a ZarrSaver, workers write the results themselves.
      if (this.#queue !== undefined && target !== undefined) return await this.#runInPlace(this.#queue, source, resolved, target);
      return await this.#runOrdered(source, resolved, target);
    } finally {
      this.#running = false;
    }
  }

  /**
   * Results of the last `submitTasks` without a saver, in item order (empty
   * when a saver took them). After a failure: the results that preceded it.
   */
  getResults(): R[] {
    return this.#results;
  }

  /** Results come back here and reach the saver in item order (or `getResults`). */
  async #runOrdered(
    source: ItemSource<I>,
    opts: ResolvedSubmitOptions,
    target: AppendTarget | undefined,
  ): Promise<SubmitSummary> {
    const queue = this.#queue;
    let sink: OrderedSaves<I, R> | undefined;
    try {
      return await dispatch<I, Unit<I>, R[]>({
        source,
        options: opts,
        openExecutor: (fail) =>
          queue !== undefined ? this.#openQueue(queue, resultJobs<I, R>(), opts, fail) : this.#openHere(opts),
        openSink: (events) => {
          sink = new OrderedSaves<I, R>({
            saver: opts.saver,
            saveInterval: opts.saveInterval,
            saveOptions: opts.saveOptions,
            maxPendingSaves: opts.maxPendingSaves,
            chunkSize: opts.chunkSize,
            heldRows: opts.resume && target !== undefined ? () => target.length() : undefined,
            events,
          });
          return sink;
        },
      });
    } finally {
      this.#results = sink?.results ?? [];
    }
  }

  /** Queue workers write the results into the target's rows. */
  #runInPlace(queue: QueueRun, source: ItemSource<I>, opts: ResolvedSubmitOptions, target: AppendTarget): Promise<SubmitSummary> {
    return dispatch<I, PlacedUnit<I>, RowsWritten>({
      source,
      options: opts,
      openExecutor: (fail) => this.#openQueue(queue, inPlaceJobs<I>(target, opts.saveOptions), opts, fail),
      openSink: () => new InPlaceSink<I>(target, opts),
    });
  }

  /** Worker threads for a task module, task objects in this thread for a factory or a class. */
  #openHere(opts: ResolvedSubmitOptions): Executor<Unit<I>, R[]> {
    const executor =
      this.moduleUrl !== undefined
        ? new WorkerPool<I, R>(this.moduleUrl, this.workers, opts.atOnce)
        : new InProcessExecutor<I, R>(this.#factory as TaskFactory<I, R>, this.workers, opts.atOnce);
    this.#executor = executor;
    return executor;
  }

  /** Jobs on the queue, computed by its workers. */
  async #openQueue<U extends Unit<I>, O>(
    { options: queue, moduleUrl }: QueueRun,
    codec: JobCodec<U, O>,
    opts: ResolvedSubmitOptions,
    fail: (error: unknown) => void,
  ): Promise<Executor<U, O>> {
    const executor = await QueueExecutor.open<U, O>({ moduleUrl, queue, atOnce: opts.atOnce, codec, fail });
    this.#executor = executor;
    return executor;
  }
}
