/**
 * A save's link to its native control: the AbortSignal cancels it, progress is polled
 * from it. Shared by every saver.
 */
import { fromNativeError } from "./errors.js";
import type { NativeBinding } from "./native.js";
import type { SaveProgress } from "./options.js";

type Control = InstanceType<NativeBinding["SaveControl"]>;

const PROGRESS_INTERVAL_MS = 50;

/** What a cancelled save rejects with: the signal's reason, as `fetch` does. */
export function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException("The save was aborted", "AbortError");
}

/** Report a finished synchronous save's progress once. */
export function reportOnce(control: Control, onProgress: ((p: SaveProgress) => void) | undefined): void {
  if (!onProgress) return;
  const p = control.progress();
  onProgress({ chunksDone: p.chunksDone, chunksTotal: p.chunksTotal, bytesWritten: p.bytesWritten });
}

/**
 * Run `start` (a native save on the libuv pool) with a control when there is
 * something to cancel or report, polling progress every 50 ms; native errors become
 * the error classes, a cancel the signal's reason.
 */
export async function controlled<T>(
  native: NativeBinding,
  job: { signal?: AbortSignal | undefined; onProgress?: ((p: SaveProgress) => void) | undefined },
  start: (control: Control | undefined) => Promise<T>,
): Promise<T> {
  const { signal, onProgress } = job;
  if (signal?.aborted) throw abortReason(signal);
  // A control only when there is something to cancel or report: making one costs 5% of a small append.
  const control = signal || onProgress ? new native.SaveControl() : undefined;
  const cancel = (): void => control?.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  // Polling a few atomics every 50 ms costs nothing measurable, unlike a callback per chunk.
  let last = "";
  const report = (): void => {
    if (!control || !onProgress) return;
    const p = control.progress();
    const key = `${p.chunksDone}/${p.chunksTotal}/${p.bytesWritten}`;
    if (key !== last) {
      last = key;
      onProgress({ chunksDone: p.chunksDone, chunksTotal: p.chunksTotal, bytesWritten: p.bytesWritten });
    }
  };
  const timer = onProgress ? setInterval(report, PROGRESS_INTERVAL_MS) : undefined;
  try {
    const result = await start(control);
    report();
    return result;
  } catch (err) {
    const error = fromNativeError(err);
    throw error.name === "AbortError" ? abortReason(signal) : error;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener("abort", cancel);
  }
}
