/**
 * Runs whose results land in place in a ZarrSaver's dataset: which runs qualify,
 * and the core's reservation of rows (see distributed.ts, and `resume`).
 */
import { fromNativeError } from "../errors.js";
import { nativeBinding } from "../native.js";
import { type SaverTarget, saverTarget, ZarrSaver } from "../saver.js";
import type { ResolvedSubmitOptions } from "./options.js";

/** Where the run writes in place: a ZarrSaver appending along axis 0 to a plain store. */
export function inPlaceTarget(opts: ResolvedSubmitOptions): SaverTarget | undefined {
  const saver = opts.saver;
  if (!(saver instanceof ZarrSaver) || saver.approach !== "append") return undefined;
  if ((opts.saveOptions?.axis ?? 0) !== 0) return undefined;
  const target = saverTarget(saver);
  // Reserved rows and in-place updates would bypass a repository's sessions: an
  // Icechunk saver gets its results through the queue, one commit per save.
  return target.icechunk ? undefined : target;
}

/** Storage options a worker must take from its own environment rather than from Redis. */
const SECRET_KEY = /secret|token|password|access_key|key_id|credential|sas|account_key|service_account/i;

/** The storage options that may travel in a job: secrets stay behind. */
export function publicStorageOptions(options: Record<string, string> | undefined): Record<string, string> | undefined {
  if (options === undefined) return undefined;
  return Object.fromEntries(Object.entries(options).filter(([key]) => !SECRET_KEY.test(key)));
}

export interface Reservation {
  start: number;
  chunkRows: number;
  /** With `stored`: the chunk rows (indices along axis 0) whose chunks are all stored. */
  storedChunkRows?: Set<number>;
}

/** Reserve `rows` rows at the end of the target's axis 0 (0: only describe it). */
export async function reserveRows(target: SaverTarget, rows: number, stored = false): Promise<Reservation> {
  const native = nativeBinding();
  try {
    const r = await native.reserve({
      location: target.location,
      dataset: target.dataset,
      rows,
      storageOptions: target.storageOptions,
      durable: target.durable,
      stored,
    });
    const reservation: Reservation = { start: r.start, chunkRows: r.chunkShape[0] ?? 1 };
    if (r.storedChunkRows != null) reservation.storedChunkRows = new Set(r.storedChunkRows);
    return reservation;
  } catch (err) {
    throw fromNativeError(err);
  }
}
