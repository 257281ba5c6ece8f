/**
 * The requests a destination has resolved, kept by the options they were resolved
 * from. A saver mostly sends the same options save after save (often the same
 * object); checking and converting them cost a small append a tenth of its time.
 * So the last {@link KEPT} are kept with a copy of the options they came from, and
 * a save whose options equal a copy, value for value, reuses its request: an object
 * changed between saves no longer equals its copy, and is resolved again. Options
 * holding anything but plain data (a Map, a typed array, a class of the caller's)
 * are never kept: they are resolved on every save, as are saves with `indices`
 * (an update's rows differ from save to save, and may be many).
 */
import { Blosc, GZip, Zstd } from "./codecs.js";
import type { DataType } from "./dtypes.js";
import type { Approach, SaveOptions } from "./options.js";

/** How many resolved requests a destination keeps. */
const KEPT = 16;
/** Options nested deeper than this are not kept (attributes may nest; requests rarely do). */
const MAX_DEPTH = 32;

/** Objects read as plain data: their own enumerable properties are all there is to them. */
const PLAIN_PROTOTYPES = new Set<unknown>([Object.prototype, null, Blosc.prototype, Zstd.prototype, GZip.prototype]);

/** A value that cannot be copied as plain data. */
const OPAQUE: unique symbol = Symbol("opaque");

/** A copied object, with the prototype of the object it copies. */
interface Copied {
  proto: unknown;
  entries: [string, unknown][];
}

/** A deep copy of `value` as plain data, or {@link OPAQUE}. */
function copyOf(value: unknown, depth: number): unknown {
  if (typeof value === "function" || typeof value === "symbol") return OPAQUE;
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) return OPAQUE;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      // A hole and an undefined element are checked differently: keep neither.
      if (!(i in value)) return OPAQUE;
      const c = copyOf(value[i], depth + 1);
      if (c === OPAQUE) return OPAQUE;
      copy.push(c);
    }
    return copy;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (!PLAIN_PROTOTYPES.has(proto)) return OPAQUE;
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(value)) {
    const c = copyOf((value as Record<string, unknown>)[key], depth + 1);
    if (c === OPAQUE) return OPAQUE;
    entries.push([key, c]);
  }
  return { proto, entries } satisfies Copied;
}

/** Whether `value` equals `copy` (made by {@link copyOf}) value for value. */
function equals(value: unknown, copy: unknown): boolean {
  if (typeof value !== "object" || value === null) return Object.is(value, copy);
  if (typeof copy !== "object" || copy === null) return false;
  if (Array.isArray(value)) {
    if (!Array.isArray(copy) || copy.length !== value.length) return false;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !equals(value[i], copy[i])) return false;
    }
    return true;
  }
  if (Array.isArray(copy)) return false;
  const { proto, entries } = copy as Copied;
  if (Object.getPrototypeOf(value) !== proto) return false;
  const keys = Object.keys(value);
  if (keys.length !== entries.length) return false;
  for (let i = 0; i < entries.length; i++) {
    const [key, c] = entries[i] as [string, unknown];
    if (keys[i] !== key || !equals((value as Record<string, unknown>)[key], c)) return false;
  }
  return true;
}

/** The parts of a save's options a request depends on: all but the save's own wiring. */
function requestPart(options: SaveOptions): unknown {
  if (options.signal === undefined && options.onProgress === undefined) return options;
  const { signal: _signal, onProgress: _onProgress, ...rest } = options;
  return rest;
}

interface Entry<T> {
  dataset: string;
  approach: Approach;
  dtype: DataType;
  exclusive: boolean;
  options: unknown;
  value: T;
}

/** A destination's resolved requests, the most recently used first. */
export class RequestCache<T> {
  readonly #entries: Entry<T>[] = [];

  /**
   * The request of a save of `dtype` data into `dataset` with `approach` and
   * `options` (`exclusive`: see `Destination.prepare`): kept, or made by `resolve`
   * (which checks `options` and throws as it does on every save) and kept when the
   * options are plain data.
   */
  resolve(dataset: string, approach: Approach, dtype: DataType, exclusive: boolean, options: SaveOptions, resolve: () => T): T {
    const keep = typeof options === "object" && options !== null && options.indices === undefined;
    const part = keep ? requestPart(options) : OPAQUE;
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry<T>;
      const same = e.dataset === dataset && e.approach === approach && e.dtype === dtype && e.exclusive === exclusive;
      if (same && equals(part, e.options)) {
        if (i > 0) entries.unshift(...entries.splice(i, 1));
        return e.value;
      }
    }
    const value = resolve();
    const copy = part === OPAQUE ? OPAQUE : copyOf(part, 0);
    if (copy !== OPAQUE) {
      entries.unshift({ dataset, approach, dtype, exclusive, options: copy, value });
      if (entries.length > KEPT) entries.pop();
    }
    return value;
  }
}
