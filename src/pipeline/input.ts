/** Items in, as units of consecutive items: arrays, iterables and async iterables alike. */
import { InvalidArgumentError } from "../errors.js";
import type { Unit } from "./task.js";

/** What `submitTasks` accepts as items. */
export type TaskItems<I> = readonly I[] | Iterable<I> | AsyncIterable<I>;

/** Throws InvalidArgumentError unless `items` is an array, an iterable or an async iterable (strings excluded). */
export function checkItems(items: unknown): void {
  const iterable = items !== null && typeof items === "object" && (Symbol.asyncIterator in items || Symbol.iterator in items);
  if (!iterable) {
    throw new InvalidArgumentError(
      `items must be an array, an iterable or an async iterable; got ${items === null ? "null" : typeof items}`,
    );
  }
}

/** The number of items, when it is known before iterating. */
export function knownTotal(items: unknown): number | undefined {
  if (Array.isArray(items)) return items.length;
  // Typed arrays: iterated like any iterable, but their length is known.
  if (ArrayBuffer.isView(items) && "length" in items && typeof items.length === "number") return items.length;
  return undefined;
}

/**
 * Consecutive items in units of `size` (the last may be shorter), pulled lazily
 * from iterables; the first `skip` items are passed over (units keep numbering
 * items from the input's first).
 */
export async function* units<I>(items: TaskItems<I>, size: number, skip = 0): AsyncGenerator<Unit<I>> {
  if (Array.isArray(items)) {
    for (let start = skip; start < items.length; start += size) yield { start, items: items.slice(start, start + size) };
    return;
  }
  let start = skip;
  let passed = 0;
  let chunk: I[] = [];
  const take = (item: I): Unit<I> | undefined => {
    if (passed < skip) {
      passed++;
      return undefined;
    }
    chunk.push(item);
    if (chunk.length < size) return undefined;
    const unit = { start, items: chunk };
    start += size;
    chunk = [];
    return unit;
  };
  if (Symbol.asyncIterator in items) {
    for await (const item of items as AsyncIterable<I>) {
      const unit = take(item);
      if (unit !== undefined) yield unit;
    }
  } else {
    // A plain for-of: items of a sync iterable are passed as they are, promises included.
    for (const item of items as Iterable<I>) {
      const unit = take(item);
      if (unit !== undefined) yield unit;
    }
  }
  if (chunk.length > 0) yield { start, items: chunk };
}
