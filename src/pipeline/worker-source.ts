/**
 * The program each worker thread runs, as source text.
 *
 * Why a string run with `new Worker(WORKER_SOURCE, { eval: true })` rather than
 * a worker file: the package is bundled by tsup into dist/index.js (ESM) and
 * dist/index.cjs, and the tests run src/*.ts through vite, where a worker can't
 * load a .ts file. An inline program needs no extra file to ship, copy or
 * resolve, and behaves the same from src and from both builds. It is plain
 * CommonJS JavaScript (what `eval: true` runs) and loads the user's task module
 * with a dynamic `import()` of its absolute URL, so ESM and CommonJS task
 * modules both work.
 *
 * Protocol: workerData `{ moduleUrl, atOnce }`; the main thread posts
 * `{ id, items }`; the worker answers `{ id, ok: true, results }` or
 * `{ id, ok: false, stage, offset, count, error }` where `offset` is the failing
 * item's position in `items` and `error` is a described error (see
 * `describeError`). Messages are processed one at a time, in order, even when
 * the task is async. The loop mirrors runUnit in in-process.ts.
 */
// No backslash and no ${ in the text below: it is the program verbatim.
export const WORKER_SOURCE = `"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { moduleUrl, atOnce } = workerData;

function describeError(err) {
  if (err !== null && typeof err === "object" && typeof err.message === "string") {
    const code = typeof err.code === "string" || typeof err.code === "number" ? err.code : undefined;
    return { name: typeof err.name === "string" ? err.name : "Error", message: err.message, stack: typeof err.stack === "string" ? err.stack : undefined, code };
  }
  let text;
  try { text = String(err); } catch { text = Object.prototype.toString.call(err); }
  return { name: "Error", message: "task threw a non-error value: " + text };
}

function isThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
}

function chunkResults(out, count) {
  const list = Array.isArray(out) ? out : out !== null && typeof out === "object" && typeof out.length === "number" ? Array.from(out) : undefined;
  if (list === undefined) throw new TypeError("processItems must return an array with one result per item; got " + (out === null ? "null" : typeof out));
  if (list.length !== count) throw new TypeError("processItems returned " + list.length + " results for " + count + " items");
  return list;
}

const loading = import(moduleUrl).then((mod) => {
  const exported = mod.default;
  if (exported === undefined) throw new TypeError("task module " + moduleUrl + " has no default export (export default class MyTask { processItem(item) { ... } })");
  const task = typeof exported === "function" ? new exported() : exported;
  const method = atOnce ? "processItems" : "processItem";
  if (task === null || typeof task !== "object" || typeof task[method] !== "function") {
    throw new TypeError(atOnce
      ? "atOnce: true calls processItems(items), and the task of " + moduleUrl + " has no processItems method"
      : "the task of " + moduleUrl + " has no processItem method (use atOnce: true to call processItems)");
  }
  return task;
});
loading.catch(() => {}); // reported with the first unit, not as an unhandled rejection

function fail(id, stage, offset, count, err) {
  parentPort.postMessage({ id, ok: false, stage, offset, count, error: describeError(err) });
}

async function run(message) {
  const { id, items } = message;
  let task;
  try { task = await loading; } catch (err) { return fail(id, "load", 0, items.length, err); }
  let results;
  if (atOnce) {
    try {
      let out = task.processItems(items);
      if (isThenable(out)) out = await out;
      results = chunkResults(out, items.length);
    } catch (err) { return fail(id, "task", 0, items.length, err); }
  } else {
    results = new Array(items.length);
    for (let k = 0; k < items.length; k++) {
      try {
        let out = task.processItem(items[k]);
        if (isThenable(out)) out = await out;
        results[k] = out;
      } catch (err) { return fail(id, "task", k, 1, err); }
    }
  }
  try {
    parentPort.postMessage({ id, ok: true, results });
  } catch (err) {
    fail(id, "task", 0, items.length, new Error("results could not be sent to the main thread: " + describeError(err).message));
  }
}

let queue = Promise.resolve();
parentPort.on("message", (message) => { queue = queue.then(() => run(message)); });
`;
