/** `GroupSaver`: several arrays of one group saved in one commit, all or nothing. */
import { controlled, reportOnce } from "./control.js";
import { packData, type SaveData } from "./convert.js";
import { fromNativeError, IndicesRequiredError, InvalidArgumentError, ZarrSaverError } from "./errors.js";
import { redact, resolveLocation, validateDatasetName } from "./location.js";
import { type NativeBinding, type NativeGroupArray, type NativeIcechunk, nativeBinding } from "./native.js";
import {
  type Approach,
  checkKeys,
  type IcechunkOptions,
  parseApproach,
  parseFlag,
  parseMaxChunkBytes,
  parseThreads,
  resolveIcechunk,
  resolveSaveOptions,
  resolveStorageOptions,
  type SaveOptions,
  type StorageOptions,
} from "./options.js";
import { enqueue, type SaveResult, toResult } from "./saver.js";

/** Options of `new GroupSaver(filePath, options)`. */
export interface GroupSaverOptions {
  /** Path of the group inside `filePath`, `/`-separated; `""` (the default) is the root. */
  group?: string;
  /** Default `"append"`: creates the group and its arrays, then grows every array together. */
  approach?: Approach | string;
  /** Object-store credentials and client settings. */
  storageOptions?: StorageOptions;
  /** Threads that encode chunks. Default: one per core. */
  threads?: number;
  /** Object stores: uploads kept in flight per save. Default 32. */
  concurrency?: number;
  /** Resolve a save only once it would survive a power cut. Default false. */
  durable?: boolean;
  /** Write into an Icechunk repository at `filePath`: every array of a save in one commit. */
  icechunk?: IcechunkOptions;
  /** Largest decoded chunk (shard, when sharded) a save may hold in memory; as {@link ZarrSaverOptions.maxChunkBytes}. Default 1 GiB. */
  maxChunkBytes?: number;
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

const GROUP_SAVER_KEYS = new Set([
  "group",
  "approach",
  "storageOptions",
  "threads",
  "concurrency",
  "durable",
  "icechunk",
  "maxChunkBytes",
]);
const ARRAY_OPTION_KEYS = new Set([
  "dtype",
  "chunks",
  "shards",
  "compressor",
  "filters",
  "fillValue",
  "dimensionNames",
  "attributes",
]);

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
  readonly #location: string;
  readonly #storageOptions: Record<string, string> | undefined;
  readonly #threads: number | undefined;
  readonly #concurrency: number | undefined;
  readonly #durable: boolean;
  readonly #icechunk: NativeIcechunk | undefined;
  readonly #maxChunkBytes: number | undefined;

  constructor(filePath: string | URL, options: GroupSaverOptions = {}) {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("options must be an object");
    checkKeys(options, GROUP_SAVER_KEYS, "options");
    this.#location = resolveLocation(filePath);
    this.filePath = filePath instanceof URL ? filePath.href : filePath;
    const group = options.group ?? "";
    if (typeof group !== "string") throw new InvalidArgumentError(`group must be a string; got ${String(group)}`);
    this.group = group === "" ? "" : validateDatasetName(group);
    this.approach = parseApproach(options.approach ?? "append");
    this.#storageOptions = resolveStorageOptions(options.storageOptions);
    this.#threads = parseThreads(options.threads, "threads");
    const c = options.concurrency;
    if (c !== undefined && (typeof c !== "number" || !Number.isInteger(c) || c < 1 || c > 1024)) {
      throw new InvalidArgumentError(`concurrency must be an integer from 1 to 1024; got ${String(c)}`);
    }
    this.#concurrency = c;
    this.#durable = parseFlag(options.durable, "durable") ?? false;
    this.#icechunk = resolveIcechunk(options.icechunk);
    this.#maxChunkBytes = parseMaxChunkBytes(options.maxChunkBytes);
  }

  /** Everything that can fail before the core runs, per array, naming the array. */
  #prepare(arrays: Record<string, SaveData>, options: GroupSaveOptions): NativeGroupArray[] {
    if (typeof arrays !== "object" || arrays === null || Array.isArray(arrays)) {
      throw new InvalidArgumentError("arrays must be an object: array name -> data");
    }
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("save options must be an object");
    const names = Object.keys(arrays);
    if (names.length === 0) throw new InvalidArgumentError("arrays is empty: a group save needs at least one array");
    const { arrays: perArray = {}, signal: _signal, onProgress: _onProgress, ...shared } = options;
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
    return names.map((name) => {
      try {
        const packed = packData(arrays[name] as SaveData);
        const target = {
          location: this.#location,
          dataset: this.group === "" ? name : `${this.group}/${name}`,
          approach: this.approach,
          threads: this.#threads,
          storageOptions: this.#storageOptions,
          concurrency: this.#concurrency,
          durable: this.#durable,
          icechunk: this.#icechunk,
          maxChunkBytes: this.#maxChunkBytes,
        };
        const request = resolveSaveOptions(target, packed, { ...shared, ...perArray[name] });
        return { name, options: request, data: packed.bytes, strings: packed.strings };
      } catch (err) {
        if (err instanceof ZarrSaverError) err.message = `array '${name}': ${err.message}`;
        throw err;
      }
    });
  }

  /**
   * Save every array of `arrays` (name -> data) off the JS thread, in one commit.
   * Resolves with what was written to each. Typed arrays are read in place: leave
   * them untouched until the Promise settles.
   */
  save(arrays: Record<string, SaveData>, options: GroupSaveOptions = {}): Promise<Record<string, SaveResult>> {
    let native: NativeBinding;
    let prepared: NativeGroupArray[];
    try {
      native = nativeBinding();
      prepared = this.#prepare(arrays, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return enqueue(this.#queueKey(), async () => {
      const results = await controlled(native, options, (control) => native.saveGroup(this.group, prepared, control));
      return Object.fromEntries(results.map((r) => [r.name, toResult(r.result)]));
    });
  }

  /** Same as {@link GroupSaver.save}, blocking the calling thread. */
  saveSync(arrays: Record<string, SaveData>, options: GroupSaveOptions = {}): Record<string, SaveResult> {
    const native = nativeBinding();
    const prepared = this.#prepare(arrays, options);
    if (options.signal) throw new InvalidArgumentError("signal needs save(): saveSync blocks the thread that would abort it");
    const control = new native.SaveControl();
    let results: ReturnType<NativeBinding["saveGroupSync"]>;
    try {
      results = native.saveGroupSync(this.group, prepared, control);
    } catch (err) {
      throw fromNativeError(err);
    }
    reportOnce(control, options.onProgress);
    return Object.fromEntries(results.map((r) => [r.name, toResult(r.result)]));
  }

  #queueKey(): string {
    return `${this.#location}\0${this.group}\0group`;
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
