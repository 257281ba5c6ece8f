/**
 * Which `save` calls run on the JS thread. A small append to a local directory costs
 * the core a fraction of a millisecond; handing it to a worker thread and back costs
 * about as much again (two thread wakes and an event-loop turn), and more on a busy
 * machine. So an append of at most {@link INLINE_MAX_BYTES} to a local, non-durable
 * dataset, with no signal or progress callback to serve, runs on the JS thread in the
 * dataset's turn, and its Promise settles as any other's. One that takes longer than
 * {@link SLOW_MS} (a large tail chunk, a slow disk) sends the next {@link BACKOFF}
 * saves of that dataset to a worker thread again, so the event loop never waits long.
 */
import type { ArrayJob } from "./destination.js";

/** Appends of up to this many bytes of data may run on the JS thread. */
export const INLINE_MAX_BYTES = 64 * 1024;
/** An inline save slower than this sends the dataset's next saves off the thread. */
const SLOW_MS = 2;
const BACKOFF = 64;

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Datasets whose saves go off the JS thread for now: how many more. */
const offThread = new Map<string, number>();

/** Whether the save `job` of the dataset `key` runs on the JS thread. */
export function runsInline(key: string, job: ArrayJob): boolean {
  const left = offThread.get(key);
  if (left !== undefined) {
    if (left <= 1) offThread.delete(key);
    else offThread.set(key, left - 1);
    return false;
  }
  const { destination, request, packed } = job;
  return (
    request.approach === "append" &&
    !destination.durable &&
    destination.icechunk === undefined &&
    !URL_SCHEME.test(destination.location) &&
    packed.strings === undefined &&
    packed.bytes !== undefined &&
    packed.bytes.byteLength <= INLINE_MAX_BYTES &&
    job.signal === undefined &&
    job.onProgress === undefined
  );
}

/** Note that an inline save of the dataset `key` took `ms`. */
export function ranInline(key: string, ms: number): void {
  if (ms > SLOW_MS) offThread.set(key, BACKOFF);
}
