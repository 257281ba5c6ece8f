/**
 * The sink of a queue run into a ZarrSaver's dataset (an {@link AppendTarget}):
 * workers write the results into the dataset themselves, so no result crosses
 * Redis or the submitter; what comes back is how many rows each job wrote.
 *
 * Its plan reserves the run's rows after the dataset's existing ones (all at once
 * for an array of items, job by job for an iterable) and gives each unit the rows
 * it fills. Units cover whole chunks of the dataset (the first may start inside
 * one), so no two jobs write one chunk, and a retried job rewrites the same rows
 * with the same values. When the dataset does not exist yet, the first unit (the
 * first `saveInterval` items) runs alone and its worker appends it as an
 * in-process run's first save would, creating the array with the run's
 * `saveOptions`; the other units follow it. Resuming, a unit whose rows are all
 * in stored chunks is passed over, except the first.
 */
import { ConflictError } from "../errors.js";
import type { SaveOptions } from "../options.js";
import type { AppendTarget } from "./append-target.js";
import type { Sink, Step } from "./dispatch.js";
import type { ItemSource } from "./input.js";
import type { ResolvedSubmitOptions } from "./options.js";
import { pack } from "./queue.js";
import type { JobCodec } from "./queue-executor.js";
import type { Unit } from "./task.js";

/** A unit whose results its worker writes into the target. */
export interface PlacedUnit<I> extends Unit<I> {
  /** Row of the dataset that the unit's first result fills. */
  row: number;
  /** Append instead, creating the dataset with the run's save options (it does not exist yet). */
  create: boolean;
}

/** What a placed unit's job did. */
export interface RowsWritten {
  written: number;
  saveMs: number;
  /** With `create`: the row its first result went to. */
  row: number | undefined;
}

/** Indices of the chunk rows that rows `[start, end)` touch. */
function chunkRange(start: number, end: number, chunkRows: number): number[] {
  const out: number[] = [];
  for (let c = Math.floor(start / chunkRows); c * chunkRows < end; c++) out.push(c);
  return out;
}

/** The run's saveOptions as a worker's creating append takes them: data only, no signal or callback. */
function creationOptions(options: SaveOptions | undefined): SaveOptions {
  const { signal: _signal, onProgress: _onProgress, ...rest } = options ?? {};
  return rest;
}

/** How placed units travel as queue jobs, and what their jobs return. */
export function inPlaceJobs<I>(target: AppendTarget, saveOptions: SaveOptions | undefined): JobCodec<PlacedUnit<I>, RowsWritten> {
  const where = target.destination.portable();
  return {
    target: (unit) => ({
      ...where,
      dataset: target.dataset,
      row: unit.row,
      ...(unit.create ? { create: pack(creationOptions(saveOptions)) } : {}),
    }),
    output: (result) => ({ written: result.written ?? 0, saveMs: result.saveMs ?? 0, row: result.row }),
  };
}

export class InPlaceSink<I> implements Sink<I, PlacedUnit<I>, RowsWritten> {
  /** Nothing waits here: workers wrote the rows. */
  readonly isFull = false;
  readonly nextInOrder = undefined;
  saved = 0;
  saves = 0;
  saveMs = 0;
  readonly #target: AppendTarget;
  readonly #options: Pick<ResolvedSubmitOptions, "saveInterval" | "chunkSize" | "resume">;
  /** Row where the unit that created the dataset wrote its first result. */
  #createdRow: number | undefined;

  constructor(target: AppendTarget, options: Pick<ResolvedSubmitOptions, "saveInterval" | "chunkSize" | "resume">) {
    this.#target = target;
    this.#options = options;
  }

  /** Chunk-aligned units with their rows, reserved before each is dispatched (see the header). */
  async *plan(source: ItemSource<I>): AsyncGenerator<Step<PlacedUnit<I>>, void, undefined> {
    const { saveInterval, chunkSize, resume } = this.#options;
    const target = this.#target;
    let reservation = await target.describe(resume);
    /** The row of item 0. */
    let base: number;
    if (reservation === undefined) {
      // No dataset yet: a worker appends the first batch as an in-process run's first save
      // would (the same items, the same saveOptions), creating it; then units fill rows after it.
      const first = await source.take(saveInterval);
      if (first.length === 0) return;
      yield { run: { start: 0, items: first, row: 0, create: true }, alone: true };
      // The loop asks for the next step once that unit has finished, and never after a failure.
      base = this.#createdRow ?? 0;
      reservation = await target.reserve(0);
    } else {
      // Resuming, item i belongs at row i; otherwise the run goes after the existing rows.
      base = resume ? 0 : reservation.start;
    }
    const { chunkRows, storedChunkRows: held, start: length } = reservation;
    // A unit covers whole chunks (the first may start inside one): at least chunkSize items.
    const unitRows = chunkRows * Math.max(1, Math.ceil(chunkSize / chunkRows));
    // Resuming, the rows up to the length are reserved already.
    let reservedEnd = resume ? Math.max(length, base + source.position) : base + source.position;
    const reserveTo = async (end: number): Promise<void> => {
      if (end <= reservedEnd) return;
      const r = await target.reserve(end - reservedEnd);
      if (r.start !== reservedEnd) {
        throw new ConflictError(
          `another writer appended to dataset '${target.dataset}' during the run (expected its length ${reservedEnd}, found ${r.start})`,
        );
      }
      reservedEnd = end;
    };
    if (source.total !== undefined) await reserveTo(base + source.total);
    for (;;) {
      const start = source.position;
      const row = base + start;
      const size = unitRows - (row % unitRows);
      const items = await source.take(size);
      if (items.length === 0) return;
      const end = row + items.length;
      // Resuming: a unit's rows are held when every chunk holding them is stored. The
      // first unit is always redone: an interrupted run's first save may have stored
      // its chunk before the rest of that chunk's rows came.
      if (held !== undefined && row >= unitRows && end <= length && chunkRange(row, end, chunkRows).every((c) => held.has(c))) {
        yield { held: { start, count: items.length } };
      } else {
        await reserveTo(end);
        yield { run: { start, items, row, create: false } };
      }
      if (items.length < size) return;
    }
  }

  put(_unit: PlacedUnit<I>, output: RowsWritten): void {
    if (output.row !== undefined) this.#createdRow = output.row;
    this.saved += output.written;
    this.saves += 1;
    this.saveMs += output.saveMs;
  }

  async finish(): Promise<void> {}

  stop(): void {}

  async abort(): Promise<void> {}
}
