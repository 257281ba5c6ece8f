/**
 * The dataset a run can write itself and resume: that of a ZarrSaver appending
 * along axis 0 to a plain store, reached through the saver's destination. Runs
 * on a queue write their results into it in place (in-place.ts); runs with
 * `resume` read how far an earlier run got from it.
 */
import type { Destination, Reservation } from "../destination.js";
import { DatasetNotFoundError } from "../errors.js";
import { ZarrSaver } from "../saver.js";
import type { ResolvedSubmitOptions } from "./options.js";

export class AppendTarget {
  /** Where the dataset is, and how it is written. */
  readonly destination: Destination;
  /** The dataset's path inside the container. */
  readonly dataset: string;

  private constructor(destination: Destination, dataset: string) {
    this.destination = destination;
    this.dataset = dataset;
  }

  /** The run's saver as a target, or undefined when the run must hand it its results. */
  static of(opts: ResolvedSubmitOptions): AppendTarget | undefined {
    const saver = opts.saver;
    if (!(saver instanceof ZarrSaver) || saver.approach !== "append") return undefined;
    if ((opts.saveOptions?.axis ?? 0) !== 0) return undefined;
    // Reserved rows and in-place updates would bypass a repository's sessions: an
    // Icechunk saver gets its results through the queue, one commit per save.
    if (saver.destination.isIcechunk) return undefined;
    return new AppendTarget(saver.destination, saver.datasetName);
  }

  /** The dataset's length and chunk grid (`stored`: and its stored chunk rows), or undefined when it does not exist yet. */
  async describe(stored = false): Promise<Reservation | undefined> {
    try {
      return await this.destination.reserve(this.dataset, 0, stored);
    } catch (err) {
      if (err instanceof DatasetNotFoundError) return undefined;
      throw err;
    }
  }

  /** Rows the dataset holds: 0 when it does not exist yet. */
  async length(): Promise<number> {
    return (await this.describe())?.start ?? 0;
  }

  /** Add `rows` rows at the end of axis 0, to be written later. */
  reserve(rows: number): Promise<Reservation> {
    return this.destination.reserve(this.dataset, rows);
  }
}
