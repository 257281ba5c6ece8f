/**
 * The unit loop: how one task object computes a chunk of items. The in-process
 * executor and the worker thread both run this one implementation, so a task
 * behaves the same wherever it runs.
 */
import type { Task } from "./task.js";

/**
 * How a unit ended: its results in item order, or which items failed and why.
 * A value rather than a thrown error, because each caller reports a failure its
 * own way (a TaskFailedError in this thread, a message from a worker).
 */
export type UnitOutcome<R> =
  | { ok: true; results: R[] }
  | {
      ok: false;
      /** Position in the unit's items of the failing item, or 0 for the whole chunk. */
      offset: number;
      /** 1 for one item (`processItem`), the chunk's length for `processItems`. */
      count: number;
      /** What the task threw or rejected with. */
      cause: unknown;
    };

/** Whether a task method returned a promise (or any thenable) to wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<unknown>).then === "function"
  );
}

/** `processItems` output as an array of exactly `count` results, or a TypeError. */
export function chunkResults<R>(out: unknown, count: number): R[] {
  const list = Array.isArray(out)
    ? out
    : out !== null && typeof out === "object" && typeof (out as ArrayLike<R>).length === "number"
      ? Array.from(out as ArrayLike<R>)
      : undefined;
  if (list === undefined)
    throw new TypeError(`processItems must return an array with one result per item; got ${out === null ? "null" : typeof out}`);
  if (list.length !== count) throw new TypeError(`processItems returned ${list.length} results for ${count} items`);
  return list as R[];
}

/**
 * Compute `items` with `task`: one `processItems(items)` call when `atOnce`,
 * else `processItem` per item, in order, one at a time. Sync results are taken
 * as they are (no await, so a sync task pays no microtask per item); promises
 * are awaited. The first failure ends the unit.
 */
export async function runUnit<I, R>(task: Task<I, R>, items: I[], atOnce: boolean): Promise<UnitOutcome<R>> {
  if (atOnce) {
    try {
      let out: unknown = (task.processItems as (items: I[]) => unknown).call(task, items);
      if (isThenable(out)) out = await out;
      return { ok: true, results: chunkResults<R>(out, items.length) };
    } catch (cause) {
      return { ok: false, offset: 0, count: items.length, cause };
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
      return { ok: false, offset: k, count: 1, cause };
    }
  }
  return { ok: true, results };
}
