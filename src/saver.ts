/**
 * `ZarrSaver`: the public saver of one array, a drop-in for the zarrita.js saver
 * it replaces. Its destination (destination.ts) runs the saves; this file holds
 * the array's name, the approach, and the argument forms of the Python saver.
 */
import type { SaveData } from "./convert.js";
import { DESTINATION_OPTION_KEYS, Destination, type SaveResult } from "./destination.js";
import { IndicesRequiredError, InvalidArgumentError } from "./errors.js";
import type { Indices } from "./indices.js";
import type { ArrayJob } from "./jobs.js";
import { redact, validateDatasetName } from "./location.js";
import { type Approach, checkKeys, parseApproach, type SaveOptions, type ZarrSaverOptions } from "./options.js";

/** What a `TaskManager` drives: anything that can save a batch of results. */
export interface Saver {
  /** Persist one batch of results; the Promise settles when the batch is saved. */
  save(data: SaveData, options?: SaveOptions): Promise<unknown>;
}

const SAVER_OPTION_KEYS = new Set(["datasetName", "approach", ...DESTINATION_OPTION_KEYS]);

function isIndices(value: unknown): value is Indices {
  return (
    typeof value === "number" ||
    Array.isArray(value) ||
    (typeof value === "object" && value !== null && ("axes" in value || "start" in value || "stop" in value || "step" in value))
  );
}

/** Accept both `save(data, options)` and the positional `save(data, indices, options?)`. */
function normalizeArgs(second: unknown, third: unknown): SaveOptions {
  if (third === undefined && !isIndices(second)) return (second ?? {}) as SaveOptions;
  if (second !== undefined && second !== null && !isIndices(second)) {
    throw new InvalidArgumentError("save(data, indices, options): indices must be a number, a list, a slice or { axes }");
  }
  return {
    ...((third ?? {}) as SaveOptions),
    ...(second === undefined || second === null ? {} : { indices: second as Indices }),
  };
}

/**
 * Saves batches of results into one Zarr array.
 *
 * ```ts
 * const saver = new ZarrSaver("results.zarr", { datasetName: "experiment_1" });
 * await saver.save([1, 2, 3]);   // creates the array
 * await saver.save([4, 5]);      // appends along axis 0
 * ```
 */
export class ZarrSaver implements Saver {
  /** The container as given. */
  readonly filePath: string;
  /** Path of the array inside the container. */
  readonly datasetName: string;
  /** append, overwrite or update. */
  readonly approach: Approach;
  readonly #destination: Destination;

  constructor(filePath: string | URL, options?: ZarrSaverOptions);
  /** The positional form, as the Python saver takes it: `new ZarrSaver(filePath, datasetName?, approach?)`. */
  constructor(filePath: string | URL, datasetName?: string, approach?: Approach | string);
  constructor(filePath: string | URL, second?: ZarrSaverOptions | string, approach?: Approach | string) {
    const options: ZarrSaverOptions =
      typeof second === "string" || second === undefined
        ? { ...(second !== undefined ? { datasetName: second } : {}), ...(approach !== undefined ? { approach } : {}) }
        : second;
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("options must be an object or a dataset name");
    }
    checkKeys(options, SAVER_OPTION_KEYS, "options");
    this.#destination = new Destination(filePath, options);
    this.filePath = this.#destination.filePath;
    this.datasetName = validateDatasetName(options.datasetName ?? "dataset");
    this.approach = parseApproach(options.approach ?? "append");
  }

  /**
   * Where this saver's saves go (read by the pipeline to write a run in place).
   * @internal
   */
  get destination(): Destination {
    return this.#destination;
  }

  /** Everything that can fail before the core runs, checked while the caller still holds its data. */
  #prepare(data: SaveData, second: unknown, third: unknown): ArrayJob {
    const options = normalizeArgs(second, third);
    if (this.approach === "update" && (options === null || typeof options !== "object" || options.indices === undefined)) {
      throw new IndicesRequiredError(
        `approach 'update' needs indices: save(data, { indices }) with a number, a list, a slice or { axes } (dataset '${this.datasetName}')`,
      );
    }
    return this.#destination.prepare(this.datasetName, this.approach, data, options);
  }

  /**
   * Save a batch off the JS thread. Resolves with what was written.
   * A typed array is read in place: leave it untouched until the Promise settles.
   */
  save(data: SaveData, options?: SaveOptions): Promise<SaveResult>;
  /** The positional form, as the Python saver takes it: `save(data, indices, options?)`. */
  save(data: SaveData, indices: Indices, options?: SaveOptions): Promise<SaveResult>;
  save(data: SaveData, second?: unknown, third?: unknown): Promise<SaveResult> {
    return this.#destination.save(() => this.#prepare(data, second, third));
  }

  /** Same as {@link save}, blocking the calling thread. */
  saveSync(data: SaveData, options?: SaveOptions): SaveResult;
  saveSync(data: SaveData, indices: Indices, options?: SaveOptions): SaveResult;
  saveSync(data: SaveData, second?: unknown, third?: unknown): SaveResult {
    return this.#destination.saveSync(() => this.#prepare(data, second, third));
  }

  /** Credentials stay out of logs and JSON. */
  toJSON(): {
    /** The container, with any `user:password@` in it masked. */
    filePath: string;
    /** The dataset's path inside the container. */
    datasetName: string;
    /** What saves do. */
    approach: Approach;
  } {
    return { filePath: redact(this.filePath), datasetName: this.datasetName, approach: this.approach };
  }
}
