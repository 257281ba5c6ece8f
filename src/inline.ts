/**
 * Which `save` calls run on the JS thread. A small append to a local directory costs
 * the core a fraction of a millisecond; handing it to a worker thread and back costs
 * about as much again (two thread wakes and an event-loop turn), and more on a busy
 * machine. So an append of at most {@link INLINE_MAX_BYTES} to a local, non-durable
 * dataset, with no signal or progress callback to serve, runs on the JS thread in the
 * dataset's turn, and its Promise settles as any other's. When those saves of a
 * dataset take longer than {@link SLOW_MS} on average (a large tail chunk, a slow
 * disk; a moving average, so that one save the OS preempted does not count), its next
 * {@link BACKOFF} saves go to a worker thread again, so the event loop never waits long.
 */
import type { ArrayJob } from "./jobs.js";
import type { NativeDestination, NativeSaveOptions } from "./native.js";

/** Appends of up to this many bytes of data may run on the JS thread. */
export const INLINE_MAX_BYTES = 64 * 1024;
/** Inline saves slower than this on average send the dataset's next saves off the thread. */
const SLOW_MS = 4;
const BACKOFF = 64;
/** The weight of the latest save in the moving average. */
const WEIGHT = 1 / 16;

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Per dataset: the moving average of its inline saves' times, and how many saves go off the thread still. */
const history = new Map<string, { averageMs: number; offThread: number }>();

/** Whether saves of `request` to `destination` may run on the JS thread, given small data: local, non-durable appends. */
export function mayRunInline(destination: NativeDestination, request: NativeSaveOptions): boolean {
  return (
    request.approach === "append" &&
    !destination.durable &&
    destination.icechunk === undefined &&
    !URL_SCHEME.test(destination.location)
  );
}

/** Whether the save `job` runs on the JS thread. */
export function runsInline(job: ArrayJob): boolean {
  const { resolved, packed } = job;
  if (!resolved.inline) return false;
  const seen = history.get(resolved.key);
  if (seen !== undefined && seen.offThread > 0) {
    seen.offThread--;
    return false;
  }
  return (
    packed.strings === undefined &&
    packed.bytes !== undefined &&
    packed.bytes.byteLength <= INLINE_MAX_BYTES &&
    job.signal === undefined &&
    job.onProgress === undefined
  );
}

/** Note that an inline save of the dataset `key` took `ms`. */
export function ranInline(key: string, ms: number): void {
  let seen = history.get(key);
  if (seen === undefined) {
    seen = { averageMs: ms, offThread: 0 };
    history.set(key, seen);
  }
  seen.averageMs += (ms - seen.averageMs) * WEIGHT;
  if (seen.averageMs > SLOW_MS) {
    seen.averageMs = 0;
    seen.offThread = BACKOFF;
  }
}
