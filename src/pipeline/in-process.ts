/** Runs tasks in this thread: `lanes` task objects, one unit at a time each (useful for async, I/O-bound tasks). */
import { TaskFailedError } from "./errors.js";
import { chunkResults, type Executor, isThenable, missingMethod, type Task, type TaskFactory, type Unit } from "./task.js";

// Mirrors the loop of worker-source.ts; keep the two in step.
async function runUnit<I, R>(task: Task<I, R>, unit: Unit<I>, atOnce: boolean): Promise<R[]> {
  const { start, items } = unit;
  if (atOnce) {
    try {
      let out: unknown = (task.processItems as (items: I[]) => unknown).call(task, items);
      if (isThenable(out)) out = await out;
      return chunkResults<R>(out, items.length);
    } catch (cause) {
      throw new TaskFailedError({ stage: "task", index: start, count: items.length, cause });
    }
  }
  const processItem = task.processItem as (item: I) => unknown;
  const results = new Array<R>(items.length);
  for (let k = 0; k < items.length; k++) {
    try {
      let out = processItem.call(task, items[k] as I);
      if (isThenable(out)) out = await out;
      results[k] = out as R;
    } catch (cause) {
      throw new TaskFailedError({ stage: "task", index: start + k, count: 1, item: items[k], cause });
    }
  }
  return results;
}

/** Let timers and I/O callbacks (a finished save, the progress bar) run between units of a synchronous task. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class InProcessExecutor<I, R> implements Executor<I, R> {
  readonly capacity: number;
  readonly activeWorkers = 0;
  readonly #factory: TaskFactory<I, R>;
  readonly #atOnce: boolean;
  /** Task objects not running a unit; built lazily so a factory error names the first item it would have run. */
  readonly #idle: Task<I, R>[] = [];

  constructor(factory: TaskFactory<I, R>, lanes: number, atOnce: boolean) {
    this.#factory = factory;
    this.capacity = lanes;
    this.#atOnce = atOnce;
  }

  async run(unit: Unit<I>): Promise<R[]> {
    let task = this.#idle.pop();
    if (task === undefined) {
      try {
        task = this.#factory();
        const missing = missingMethod(task, this.#atOnce);
        if (missing !== undefined) throw new TypeError(missing);
      } catch (cause) {
        throw new TaskFailedError({ stage: "load", index: unit.start, count: unit.items.length, cause });
      }
    }
    try {
      return await runUnit(task, unit, this.#atOnce);
    } finally {
      this.#idle.push(task);
      await yieldToEventLoop();
    }
  }

  async close(): Promise<void> {
    this.#idle.length = 0;
  }
}
