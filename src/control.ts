/**
 * A save's link to its native control: the AbortSignal cancels it, progress is
 * polled from it, and native errors become the error classes. The async and the
 * blocking runner of every save (see destination.ts).
 */
import { fromNativeError, InvalidArgumentError } from "./errors.js";
import type { NativeBinding } from "./native.js";
import type { SaveProgress } from "./options.js";

/** The native handle a running save is cancelled and watched through. */
export type Control = InstanceType<NativeBinding["SaveControl"]>;

/** What a save is wired to while it runs. */
export interface SaveWiring {
  /** Aborts the save before its metadata commit. */
  signal?: AbortSignal | undefined;
  /** Receives the save's progress. */
  onProgress?: ((p: SaveProgress) => void) | undefined;
}

const PROGRESS_INTERVAL_MS = 50;

/** What a cancelled save rejects with: the signal's reason, as `fetch` does. */
function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new DOMException("The save was aborted", "AbortError");
}

function progressOf(control: Control): SaveProgress {
  const p = control.progress();
  return { chunksDone: p.chunksDone, chunksTotal: p.chunksTotal, bytesWritten: p.bytesWritten };
}

/**
 * Run `start` (a native save on the libuv pool) with a control when there is
 * something to cancel or report, polling progress every 50 ms; native errors become
 * the error classes, a cancel the signal's reason.
 */
export async function controlled<T>(
  native: NativeBinding,
  wiring: SaveWiring,
  start: (control: Control | undefined) => Promise<T>,
): Promise<T> {
  const { signal, onProgress } = wiring;
  if (signal?.aborted) throw abortReason(signal);
  // A control only when there is something to cancel or report: making one costs 5% of a small append.
  const control = signal || onProgress ? new native.SaveControl() : undefined;
  const cancel = (): void => control?.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  // Polling a few atomics every 50 ms costs nothing measurable, unlike a callback per chunk.
  let last = "";
  const report = (): void => {
    if (!control || !onProgress) return;
    const p = progressOf(control);
    const key = `${p.chunksDone}/${p.chunksTotal}/${p.bytesWritten}`;
    if (key !== last) {
      last = key;
      onProgress(p);
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

/**
 * The blocking twin of {@link controlled}: `start` runs a native save on the calling
 * thread, which could not serve an abort, so a signal is refused; progress is
 * reported once, at the end.
 */
export function controlledSync<T>(native: NativeBinding, wiring: SaveWiring, start: (control: Control | undefined) => T): T {
  if (wiring.signal) throw new InvalidArgumentError("signal needs save(): saveSync blocks the thread that would abort it");
  const control = wiring.onProgress ? new native.SaveControl() : undefined;
  let result: T;
  try {
    result = start(control);
  } catch (err) {
    throw fromNativeError(err);
  }
  if (control) wiring.onProgress?.(progressOf(control));
  return result;
}
