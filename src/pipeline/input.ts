/** Items in: arrays, iterables and async iterables alike, pulled only as work is planned. */
import { InvalidArgumentError } from "../errors.js";

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
 * Items pulled on demand, numbered from the input's first. Items of a sync
 * iterable are passed as they are, promises included, and cost no await each.
 */
export class ItemSource<I> {
  /** The number of items, when known before iterating. */
  readonly total: number | undefined;
  readonly #array: readonly I[] | undefined;
  readonly #sync: Iterator<I> | undefined;
  readonly #async: AsyncIterator<I> | undefined;
  #position = 0;
  #ended = false;

  constructor(items: TaskItems<I>) {
    this.total = knownTotal(items);
    if (Array.isArray(items)) this.#array = items;
    else if (Symbol.asyncIterator in (items as object)) this.#async = (items as AsyncIterable<I>)[Symbol.asyncIterator]();
    else this.#sync = (items as Iterable<I>)[Symbol.iterator]();
  }

  /** Index of the next item to be taken. */
  get position(): number {
    return this.#position;
  }

  /** Up to `n` next items; fewer only at the end. */
  async take(n: number): Promise<I[]> {
    if (this.#array !== undefined) {
      const out = this.#array.slice(this.#position, this.#position + n);
      this.#position += out.length;
      return out;
    }
    const out: I[] = [];
    await this.#pull(n, (item) => out.push(item));
    return out;
  }

  /** Pass over `n` items (a resumed run's, already saved); the next taken is item `n` on. */
  async skip(n: number): Promise<void> {
    if (this.#array !== undefined) this.#position += n;
    else await this.#pull(n, () => undefined);
  }

  /** Up to `n` items of the iterator to `keep`, one loop per kind so that a sync one awaits nothing. */
  async #pull(n: number, keep: (item: I) => void): Promise<void> {
    const end = this.#position + n;
    if (this.#sync !== undefined) {
      while (this.#position < end && !this.#ended) {
        const step = this.#sync.next();
        if (step.done === true) this.#ended = true;
        else {
          keep(step.value);
          this.#position++;
        }
      }
    } else if (this.#async !== undefined) {
      while (this.#position < end && !this.#ended) {
        const step = await this.#async.next();
        if (step.done === true) this.#ended = true;
        else {
          keep(step.value);
          this.#position++;
        }
      }
    }
  }

  /** Let a generator run its `finally` when the run stops early. */
  async close(): Promise<void> {
    if (this.#ended || this.#array !== undefined) return;
    this.#ended = true;
    await (this.#sync ?? this.#async)?.return?.();
  }
}
