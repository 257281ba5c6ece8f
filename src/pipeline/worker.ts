/**
 * The program each worker thread runs. It imports the task module, builds one
 * task object, and computes the units the pool posts with the same loop as the
 * in-process executor (run-unit.ts), one unit at a time in the order they came,
 * even when the task is async.
 *
 * The package build makes it an entry of its own, `dist/worker.mjs`, beside the
 * bundles that start it (see worker-entry.ts); it is ESM, and the task module is
 * loaded with `import()` of its absolute URL, so ESM and CommonJS task modules
 * both work.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { TaskStage } from "./errors.js";
import { runUnit } from "./run-unit.js";
import { checkTask, type Task } from "./task.js";
import { describeError, readWorkerSetup, type UnitReply, type UnitRequest } from "./worker-protocol.js";

if (parentPort === null) throw new Error("the pipeline's worker runs only in a worker thread started by TaskManager");
const port = parentPort;
const { moduleUrl, atOnce } = readWorkerSetup(workerData);

/** The task object of this thread, from the module's default export (a class, or a task object). */
async function loadTask(): Promise<Task> {
  const mod: unknown = await import(moduleUrl);
  const exported = mod !== null && typeof mod === "object" && "default" in mod ? mod.default : undefined;
  if (exported === undefined) {
    throw new TypeError(
      `task module ${moduleUrl} has no default export (export default class MyTask { processItem(item) { ... } })`,
    );
  }
  const task: unknown = typeof exported === "function" ? new (exported as new () => unknown)() : exported;
  return checkTask(task, atOnce, `the task of ${moduleUrl}`);
}

// Started at once, so the import overlaps the first unit's trip here; a failure is reported with that unit.
const loading = loadTask();
loading.catch(() => {}); // not an unhandled rejection: run() reports it

function reply(message: UnitReply): void {
  port.postMessage(message);
}

function fail(id: number, stage: TaskStage, offset: number, count: number, cause: unknown): void {
  reply({ id, ok: false, stage, offset, count, error: describeError(cause) });
}

async function run({ id, items }: UnitRequest): Promise<void> {
  let task: Task;
  try {
    task = await loading;
  } catch (cause) {
    fail(id, "load", 0, items.length, cause);
    return;
  }
  const outcome = await runUnit(task, items, atOnce);
  if (!outcome.ok) {
    fail(id, "task", outcome.offset, outcome.count, outcome.cause);
    return;
  }
  try {
    reply({ id, ok: true, results: outcome.results });
  } catch (cause) {
    // Results that can't be structured-cloned (functions, class instances with private state ...).
    const why = describeError(cause).message;
    fail(id, "task", 0, items.length, new Error(`results could not be sent to the main thread: ${why}`));
  }
}

// One unit at a time: the next waits for the previous, as a task object may keep state between calls.
let queue: Promise<void> = Promise.resolve();
port.on("message", (request: UnitRequest) => {
  queue = queue.then(() => run(request));
});
