/** Runs tasks in this thread: `lanes` task objects, one unit at a time each (useful for async, I/O-bound tasks). */
import { unitFailure } from "./errors.js";
import { runUnit } from "./run-unit.js";
import { checkTask, type Executor, type Task, type TaskFactory, type Unit } from "./task.js";

/** Let timers and I/O callbacks (a finished save, the progress bar) run between units of a synchronous task. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The executor of a task factory or class: task objects in this thread, as many as the TaskManager's `workers`. */
export class InProcessExecutor<I, R> implements Executor<Unit<I>, R[]> {
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
        task = checkTask<I, R>(this.#factory(), this.#atOnce);
      } catch (cause) {
        throw unitFailure(unit, "load", 0, unit.items.length, cause);
      }
    }
    try {
      const outcome = await runUnit(task, unit.items, this.#atOnce);
      if (!outcome.ok) throw unitFailure(unit, "task", outcome.offset, outcome.count, outcome.cause);
      return outcome.results;
    } finally {
      this.#idle.push(task);
      await yieldToEventLoop();
    }
  }

  async close(): Promise<void> {
    this.#idle.length = 0;
  }
}
