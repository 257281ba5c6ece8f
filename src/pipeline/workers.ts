/** Runs tasks in worker threads (node:worker_threads), one task object per thread. */
import { Worker } from "node:worker_threads";
import { TaskFailedError, type TaskStage } from "./errors.js";
import type { Executor, Unit } from "./task.js";
import { WORKER_SOURCE } from "./worker-source.js";

/**
 * Units queued per worker: while it computes one, the next is already in its
 * inbox, so it never idles for a message round trip.
 */
const UNITS_PER_WORKER = 2;

/** An error as a worker describes it (see worker-source.ts). */
interface DescribedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
}

type Reply<R> =
  | { id: number; ok: true; results: R[] }
  | { id: number; ok: false; stage: TaskStage; offset: number; count: number; error: DescribedError };

interface Pending<I, R> {
  unit: Unit<I>;
  resolve: (results: R[]) => void;
  reject: (err: TaskFailedError) => void;
}

interface Thread<I, R> {
  worker: Worker;
  pending: Map<number, Pending<I, R>>;
  exited: Promise<void>;
  alive: boolean;
}

const BUILTIN_ERRORS: Record<string, new (message: string) => Error> = {
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Rebuild a worker's error on this side: same class for built-in errors, same name, message, stack and code. */
function reviveError(described: DescribedError): Error {
  const Class = BUILTIN_ERRORS[described.name] ?? Error;
  const err = new Class(described.message) as Error & { code?: string | number };
  if (err.name !== described.name) err.name = described.name;
  if (described.stack !== undefined) err.stack = described.stack;
  if (described.code !== undefined) err.code = described.code;
  return err;
}

function failure<I>(unit: Unit<I>, stage: TaskStage, offset: number, count: number, cause: unknown): TaskFailedError {
  const index = unit.start + offset;
  return new TaskFailedError(
    count === 1 ? { stage, index, count, item: unit.items[offset], cause } : { stage, index, count, cause },
  );
}

export class WorkerPool<I, R> implements Executor<I, R> {
  readonly capacity: number;
  readonly #threads: Thread<I, R>[] = [];
  #nextId = 0;
  #closing = false;

  /** Starts `count` threads that import `moduleUrl` (an absolute URL). Throws if a thread can't be created. */
  constructor(moduleUrl: string, count: number, atOnce: boolean) {
    this.capacity = count * UNITS_PER_WORKER;
    try {
      for (let i = 0; i < count; i++) this.#threads.push(this.#spawn(moduleUrl, atOnce));
    } catch (err) {
      void this.close();
      throw err;
    }
  }

  get activeWorkers(): number {
    return this.#threads.filter((t) => t.alive).length;
  }

  #spawn(moduleUrl: string, atOnce: boolean): Thread<I, R> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl, atOnce } });
    const thread: Thread<I, R> = { worker, pending: new Map(), alive: true, exited: Promise.resolve() };
    thread.exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        thread.alive = false;
        this.#abandon(thread, new Error(`worker thread exited with code ${code}`));
        resolve();
      });
    });
    worker.on("message", (reply: Reply<R>) => {
      const job = thread.pending.get(reply.id);
      if (job === undefined) return;
      thread.pending.delete(reply.id);
      if (reply.ok) job.resolve(reply.results);
      else job.reject(failure(job.unit, reply.stage, reply.offset, reply.count, reviveError(reply.error)));
    });
    // An uncaught exception in the thread (say, thrown from a timer the task set) kills it.
    worker.on("error", (err) => this.#abandon(thread, err));
    worker.on("messageerror", (err) => this.#abandon(thread, err));
    return thread;
  }

  /** The thread died: fail every unit it holds (the oldest is the one it was running). */
  #abandon(thread: Thread<I, R>, cause: unknown): void {
    const jobs = [...thread.pending.values()];
    thread.pending.clear();
    for (const job of jobs) job.reject(failure(job.unit, "task", 0, job.unit.items.length, cause));
  }

  run(unit: Unit<I>): Promise<R[]> {
    let best: Thread<I, R> | undefined;
    for (const thread of this.#threads) {
      if (thread.alive && (best === undefined || thread.pending.size < best.pending.size)) best = thread;
    }
    if (best === undefined || this.#closing) {
      return Promise.reject(failure(unit, "task", 0, unit.items.length, new Error("no worker thread is running")));
    }
    const thread = best;
    const id = this.#nextId++;
    return new Promise<R[]>((resolve, reject) => {
      thread.pending.set(id, { unit, resolve, reject });
      try {
        thread.worker.postMessage({ id, items: unit.items });
      } catch (cause) {
        // Items that can't be structured-cloned (functions, class instances with private state ...).
        thread.pending.delete(id);
        reject(failure(unit, "task", 0, unit.items.length, cause));
      }
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
    await Promise.all(this.#threads.map((t) => t.exited));
  }
}
