/** Runs tasks in worker threads (node:worker_threads), one task object per thread. */
import { Worker } from "node:worker_threads";
import { type TaskFailedError, unitFailure } from "./errors.js";
import type { Executor, Unit } from "./task.js";
import { WORKER_URL } from "./worker-entry.js";
import { reviveError, type UnitReply, type UnitRequest, type WorkerSetup } from "./worker-protocol.js";

/**
 * Units queued per worker: while it computes one, the next is already in its
 * inbox, so it never idles for a message round trip.
 */
const UNITS_PER_WORKER = 2;

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

/**
 * The executor of a task module: one worker thread per `workers`, each running
 * worker.ts with one task object. Units go to the thread with the fewest
 * pending; results come back per unit, and the run's sink puts them in order.
 */
export class WorkerPool<I, R> implements Executor<Unit<I>, R[]> {
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
    const setup: WorkerSetup = { moduleUrl, atOnce };
    const worker = new Worker(WORKER_URL, { workerData: setup });
    const thread: Thread<I, R> = { worker, pending: new Map(), alive: true, exited: Promise.resolve() };
    thread.exited = new Promise((resolve) => {
      worker.once("exit", (code) => {
        thread.alive = false;
        this.#abandon(thread, new Error(`worker thread exited with code ${code}`));
        resolve();
      });
    });
    worker.on("message", (reply: UnitReply<R>) => {
      const job = thread.pending.get(reply.id);
      if (job === undefined) return;
      thread.pending.delete(reply.id);
      if (reply.ok) job.resolve(reply.results);
      else job.reject(unitFailure(job.unit, reply.stage, reply.offset, reply.count, reviveError(reply.error)));
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
    for (const job of jobs) job.reject(unitFailure(job.unit, "task", 0, job.unit.items.length, cause));
  }

  run(unit: Unit<I>): Promise<R[]> {
    let best: Thread<I, R> | undefined;
    for (const thread of this.#threads) {
      if (thread.alive && (best === undefined || thread.pending.size < best.pending.size)) best = thread;
    }
    if (best === undefined || this.#closing) {
      return Promise.reject(unitFailure(unit, "task", 0, unit.items.length, new Error("no worker thread is running")));
    }
    const thread = best;
    const id = this.#nextId++;
    return new Promise<R[]>((resolve, reject) => {
      thread.pending.set(id, { unit, resolve, reject });
      try {
        const request: UnitRequest<I> = { id, items: unit.items };
        thread.worker.postMessage(request);
      } catch (cause) {
        // Items that can't be structured-cloned (functions, class instances with private state ...).
        thread.pending.delete(id);
        reject(unitFailure(unit, "task", 0, unit.items.length, cause));
      }
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
    await Promise.all(this.#threads.map((t) => t.exited));
  }
}
