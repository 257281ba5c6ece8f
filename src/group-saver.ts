/**
 * `GroupSaver`: several arrays of one group saved in one commit, all or nothing.
 * Its destination (destination.ts) runs the saves; this file holds the group's
 * path, the approach, and how shared and per-array options make each array's request.
 */
import type { SaveData } from "./convert.js";
import { DESTINATION_OPTION_KEYS, Destination, type SaveResult } from "./destination.js";
import { IndicesRequiredError, InvalidArgumentError, ZarrSaverError } from "./errors.js";
import type { GroupJob } from "./jobs.js";
import { redact, validateDatasetName } from "./location.js";
import {
  type Approach,
  ARRAY_CREATION_KEYS,
  checkKeys,
  parseApproach,
  type SaveOptions,
  type ZarrSaverOptions,
} from "./options.js";

/** Options of `new GroupSaver(filePath, options)`: those of a `ZarrSaver`, with `group` for `datasetName`. */
export interface GroupSaverOptions extends Omit<ZarrSaverOptions, "datasetName" | "approach"> {
  /** Path of the group inside `filePath`, `/`-separated; `""` (the default) is the root. */
  group?: string;
  /** Default `"append"`: creates the group and its arrays, then grows every array together. */
  approach?: Approach | string;
}

/** The options one array of a group save may set for itself: those of its creation. */
export type ArrayOptions = Pick<
  SaveOptions,
  "dtype" | "chunks" | "shards" | "compressor" | "filters" | "fillValue" | "dimensionNames" | "attributes"
>;

/** Options of one group save: shared by every array, with `arrays` for each one's own. */
export interface GroupSaveOptions extends Omit<SaveOptions, "consolidated"> {
  /** Per array (by name): creation options that apply to it alone. */
  arrays?: Record<string, ArrayOptions>;
}

const GROUP_SAVER_KEYS = new Set(["group", "approach", ...DESTINATION_OPTION_KEYS]);
const ARRAY_OPTION_KEYS = new Set(ARRAY_CREATION_KEYS);

/**
 * Saves several arrays of one group in one commit: the way to append a time step to
 * every variable of an xarray dataset and to its time coordinate at once. A crash
 * leaves every array at its old length or every one at its new. A group it creates
 * carries consolidated metadata and dimension names, so `xr.open_zarr(path)` opens it.
 *
 * ```ts
 * const ds = new GroupSaver("weather.zarr", { group: "run1" });
 * await ds.save({ temp: rows, time: new BigInt64Array([t]) });
 * ```
 */
export class GroupSaver {
  /** The container as given. */
  readonly filePath: string;
  /** Path of the group inside the container (`""`: the root). */
  readonly group: string;
  /** append, overwrite or update. */
  readonly approach: Approach;
  readonly #destination: Destination;

  constructor(filePath: string | URL, options: GroupSaverOptions = {}) {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("options must be an object");
    checkKeys(options, GROUP_SAVER_KEYS, "options");
    this.#destination = new Destination(filePath, options);
    this.filePath = this.#destination.filePath;
    const group = options.group ?? "";
    if (typeof group !== "string") throw new InvalidArgumentError(`group must be a string; got ${String(group)}`);
    this.group = group === "" ? "" : validateDatasetName(group);
    this.approach = parseApproach(options.approach ?? "append");
  }

  /** Everything that can fail before the core runs, per array, naming the array. */
  #prepare(arrays: Record<string, SaveData>, options: GroupSaveOptions): GroupJob {
    if (typeof arrays !== "object" || arrays === null || Array.isArray(arrays)) {
      throw new InvalidArgumentError("arrays must be an object: array name -> data");
    }
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("save options must be an object");
    const names = Object.keys(arrays);
    if (names.length === 0) throw new InvalidArgumentError("arrays is empty: a group save needs at least one array");
    const { arrays: perArray = {}, signal, onProgress, ...shared } = options;
    if (typeof perArray !== "object" || perArray === null) throw new InvalidArgumentError("options.arrays must be an object");
    for (const [name, own] of Object.entries(perArray)) {
      if (!names.includes(name)) throw new InvalidArgumentError(`options.arrays.${name}: no array of that name in this save`);
      checkKeys(own, ARRAY_OPTION_KEYS, `options.arrays.${name}`);
    }
    if (this.approach === "update" && shared.indices === undefined) {
      throw new IndicesRequiredError(
        `approach 'update' needs indices, the same positions in every array (group '${this.group}')`,
      );
    }
    const jobs = names.map((name) => {
      try {
        const path = this.group === "" ? name : `${this.group}/${name}`;
        return this.#destination.prepare(path, this.approach, arrays[name] as SaveData, { ...shared, ...perArray[name] });
      } catch (err) {
        if (err instanceof ZarrSaverError) err.message = `array '${name}': ${err.message}`;
        throw err;
      }
    });
    // Only creation options differ per array (checked above): what the save does,
    // and where, come from the shared options, the same in every job.
    const first = jobs[0] as (typeof jobs)[number];
    const { approach, axis, selection, zarrFormat } = first.resolved.request;
    return {
      destination: first.resolved.destination,
      options: { group: this.group, approach, axis, selection, zarrFormat },
      arrays: jobs.map((job, i) => ({
        name: names[i] as string,
        options: job.resolved.request.array,
        shape: job.packed.shape,
        data: job.packed.bytes,
        strings: job.packed.strings,
      })),
      signal,
      onProgress,
    };
  }

  /**
   * Save every array of `arrays` (name -> data) off the JS thread, in one commit.
   * Resolves with what was written to each. Typed arrays are read in place: leave
   * them untouched until the Promise settles.
   */
  save(arrays: Record<string, SaveData>, options: GroupSaveOptions = {}): Promise<Record<string, SaveResult>> {
    return this.#destination.saveGroup(() => this.#prepare(arrays, options));
  }

  /** Same as {@link GroupSaver.save}, blocking the calling thread. */
  saveSync(arrays: Record<string, SaveData>, options: GroupSaveOptions = {}): Record<string, SaveResult> {
    return this.#destination.saveGroupSync(() => this.#prepare(arrays, options));
  }

  /** Credentials stay out of logs and JSON. */
  toJSON(): {
    /** The container, with any `user:password@` in it masked. */
    filePath: string;
    /** The group's path inside the container. */
    group: string;
    /** append, overwrite or update. */
    approach: Approach;
  } {
    return { filePath: redact(this.filePath), group: this.group, approach: this.approach };
  }
}
