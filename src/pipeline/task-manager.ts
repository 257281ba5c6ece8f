/**
 * `TaskManager`, the pipeline: runs a task over many items, in this
 * thread or in worker threads, and feeds the results to a saver in item order
 * every `saveInterval` results while computing goes on.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DatasetNotFoundError, InvalidArgumentError } from "../errors.js";
import { runDistributed } from "./distributed.js";
import { inPlaceTarget, reserveRows } from "./in-place.js";
import { InProcessExecutor } from "./in-process.js";
import { checkItems, knownTotal, type TaskItems, units } from "./input.js";
import {
  type ResolvedSubmitOptions,
  resolveSubmitOptions,
  resolveWorkers,
  type SubmitOptions,
  type TaskManagerOptions,
} from "./options.js";
import { OrderedSaves } from "./ordered-saves.js";
import { ProgressReporter } from "./progress.js";
import { type ResolvedQueueOptions, resolveQueueOptions } from "./queue.js";
import { Signal } from "./signal.js";
import type { Executor, TaskClass, TaskFactory, TaskSource } from "./task.js";
import { WorkerPool } from "./workers.js";

/**
 * How far (in units of in-flight capacity) dispatch may run ahead of the first
 * unfinished item. Results that finish early wait for it in memory; this bounds
 * that memory when one item is much slower than the rest.
 */
const AHEAD_FACTOR = 4;

/** What a `submitTasks` run did, for logs and benchmarks. */
export interface SubmitSummary {
  /** Items computed. */
  items: number;
  /** Items saved (0 without a saver). */
  saved: number;
  /** `saver.save` calls. */
  saves: number;
  /** Wall time of the run. */
  elapsedMs: number;
  /** Time inside `saver.save`, summed (it overlaps computing). */
  saveMs: number;
  /** Time dispatching was paused because `maxPendingSaves` batches waited for the saver. */
  stalledMs: number;
  /** Items skipped by `resume` because the dataset already held their results. */
  skipped: number;
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
  readonly #queue: ResolvedQueueOptions | undefined;
  #executor: Executor<I, R> | undefined;
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
      this.#queue = resolveQueueOptions(options.queue);
    }
  }

  /** The queue's name, when tasks run on queue workers. */
  get queueName(): string | undefined {
    return this.#queue?.name;
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
    if (resolved.resume && inPlaceTarget(resolved) === undefined) {
      throw new InvalidArgumentError("resume needs a ZarrSaver that appends along axis 0 as the saver");
    }
    this.#running = true;
    this.#results = [];
    try {
      if (this.#queue !== undefined && this.moduleUrl !== undefined) {
        return await runDistributed<I, R>({ moduleUrl: this.moduleUrl, queue: this.#queue, items, opts: resolved }, (r) => {
          this.#results = r;
        });
      }
      return await this.#run(items, resolved);
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

  #start(atOnce: boolean): Executor<I, R> {
    this.#executor =
      this.moduleUrl !== undefined
        ? new WorkerPool<I, R>(this.moduleUrl, this.workers, atOnce)
        : new InProcessExecutor<I, R>(this.#factory as TaskFactory<I, R>, this.workers, atOnce);
    return this.#executor;
  }

  async #run(items: TaskItems<I>, opts: ResolvedSubmitOptions): Promise<SubmitSummary> {
    const began = performance.now();
    const signal = new Signal();
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown): void => {
      failure ??= { error };
      // Chunks still finishing must not start saves after the failure.
      sink.stop();
      signal.notify();
    };
    opts.signal?.throwIfAborted();
    const target = opts.resume ? inPlaceTarget(opts) : undefined;
    // Resuming here: saves append in order, so the dataset's rows are the first items' results.
    const skipped =
      target === undefined
        ? 0
        : ((
            await reserveRows(target, 0).catch((err: unknown) => {
              if (err instanceof DatasetNotFoundError) return undefined;
              throw err;
            })
          )?.start ?? 0);
    let done = skipped;
    const progress = new ProgressReporter({
      total: opts.total ?? knownTotal(items),
      onProgress: opts.onProgress,
      bar: opts.progressBar ? process.stderr : undefined,
    });
    const sink: OrderedSaves<R> = new OrderedSaves<R>({
      saver: opts.saver,
      saveInterval: opts.saveInterval,
      saveOptions: opts.saveOptions,
      maxPendingSaves: opts.maxPendingSaves,
      first: skipped,
      onSaved: () => {
        report();
        signal.notify();
      },
      onError: fail,
    });
    // A throwing onProgress fails the run like a task would, rather than escaping as an unhandled rejection.
    const report = (): void => {
      try {
        progress.report(done, skipped + sink.saved);
      } catch (err) {
        fail(err);
      }
    };

    const onAbort = (): void => fail(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const inflight = new Set<Promise<void>>();
    let stalledMs = 0;
    let executor: Executor<I, R> | undefined;
    try {
      try {
        for await (const unit of units(items, opts.chunkSize, skipped)) {
          executor ??= this.#start(opts.atOnce);
          const ahead = executor.capacity * opts.chunkSize * AHEAD_FACTOR;
          while (
            failure === undefined &&
            (inflight.size >= executor.capacity || sink.isFull || unit.start - sink.nextIndex >= ahead)
          ) {
            const pausedBySaver = sink.isFull;
            const t = performance.now();
            await signal.wait();
            if (pausedBySaver) stalledMs += performance.now() - t;
          }
          if (failure !== undefined) break;
          const job: Promise<void> = executor
            .run(unit)
            .then((results) => {
              done += unit.items.length;
              sink.put(unit.start, results);
              report();
            })
            .catch(fail)
            .finally(() => {
              inflight.delete(job);
              signal.notify();
            });
          inflight.add(job);
        }
      } catch (err) {
        // The items' iterator threw, or worker threads could not be created.
        fail(err);
      }

      if (failure === undefined) {
        await Promise.all(inflight);
        if (failure === undefined) await sink.finish();
        // The last report: everything computed and saved (a throwing onProgress still fails the run).
        if (failure === undefined) report();
      }
      if (failure !== undefined) {
        // Terminating the threads settles their units; in-process units run to their end.
        await executor?.close();
        await Promise.all(inflight);
        await sink.abort();
        throw failure.error;
      }
      return {
        items: done - skipped,
        skipped,
        saved: sink.saved,
        saves: sink.saves,
        elapsedMs: performance.now() - began,
        saveMs: sink.saveMs,
        stalledMs,
      };
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      await executor?.close();
      this.#results = sink.results;
      progress.end();
    }
  }
}
