/**
 * Saver and save options: their types, their documented defaults, the checks
 * of each value, and a save's options resolved into its part of the native
 * request (the destination, destination.ts, adds where it goes). Unknown keys
 * are refused so a typo never silently falls back to a default.
 */
import { type CodecConfig, codecJson } from "./codecs.js";
import { DATA_TYPES, type DataType, isDataType } from "./dtypes.js";
import { InvalidArgumentError } from "./errors.js";
import { type Indices, parseIndices } from "./indices.js";
import type {
  CompressorChoice,
  Approach as NativeApproach,
  NativeArrayOptions,
  NativeIcechunk,
  NativeSaveOptions,
} from "./native.js";
import type { SameUnion } from "./same-union.js";

/** How a save treats an existing dataset: `append`, `overwrite` or `update`. */
export type Approach = "append" | "overwrite" | "update";

// The core's type is generated from its enum: an approach added on one side only fails to compile.
true satisfies SameUnion<Approach, NativeApproach>;

/** Options for an object store (keys pass through to the client). */
export interface StorageOptions {
  /** URL of an S3-compatible service (MinIO, R2, a local emulator) instead of the provider's. */
  endpoint?: string;
  /** The bucket's region. */
  region?: string;
  /** Access key; with {@link StorageOptions.secretAccessKey}, instead of the environment's credentials. */
  accessKeyId?: string;
  /** Secret of {@link StorageOptions.accessKeyId}. */
  secretAccessKey?: string;
  /** Token of temporary credentials. */
  sessionToken?: string;
  /** Allow `http://` endpoints (emulators); refused by default. */
  allowHttp?: boolean;
  [key: string]: unknown;
}

/**
 * `filePath` is an Icechunk repository (a local directory or an object-store URL,
 * created if missing): each save is one commit on `branch`, named by
 * `snapshotId` in each save's result.
 */
export interface IcechunkOptions {
  /** The branch each save commits to. Default `"main"`. */
  branch?: string;
  /** The message of every commit. Default: one naming the approach, the dataset and the rows written. */
  message?: string;
}

/** Options of `new ZarrSaver(filePath, options)`. */
export interface ZarrSaverOptions {
  /** Path of the array inside `filePath`, `/`-separated. Default `"dataset"`. */
  datasetName?: string;
  /** Default `"append"`. Trimmed and lower-cased. */
  approach?: Approach | string;
  /** Object-store credentials and client settings. */
  storageOptions?: StorageOptions;
  /** Threads that encode chunks. Default: one per core. */
  threads?: number;
  /** Object stores: uploads kept in flight per save. Default 32. */
  concurrency?: number;
  /**
   * Resolve a save only once it would survive a power cut: files synced before the
   * rename that publishes them, chunks before metadata, directories after. Default
   * false: a save survives a crash of the process, not of the machine.
   */
  durable?: boolean;
  /** Write into an Icechunk repository at `filePath`, one commit per save. */
  icechunk?: IcechunkOptions;
  /**
   * Largest decoded chunk, in bytes, a save may hold in memory (for a sharded
   * array, the whole shard: zarrs reads, patches and rewrites shards whole).
   * Default 256 MiB (2^28): a chunk costs about three times its size while it is
   * patched and encoded, so a save stays under 1 GiB. A new array whose `chunks`/`shards` exceed it is an
   * `InvalidArgumentError`; an existing one whose stored chunks exceed it is a
   * `CorruptMetadataError`, so a typo-sized or damaged chunk shape fails with an
   * error instead of exhausting memory. Default chunks are sized to fit it. Blosc's
   * own limit, 2^31 - 16 bytes per chunk, applies whatever this says.
   */
  maxChunkBytes?: number;
}

/** Options of one `save`. Creation options apply only when the save creates the array. */
export interface SaveOptions {
  /** `update`: where the data goes (a number, numbers, a slice, or `{ axes }`). */
  indices?: Indices;
  /** `append`: the axis to grow. Default 0. */
  axis?: number;
  /** Stored dtype at creation (data is cast losslessly); later, must equal the stored dtype. */
  dtype?: DataType;
  /** Chunk shape. Default: full trailing axes and enough rows for about 1-2 MiB. */
  chunks?: readonly number[];
  /** Shard shape (Zarr v3 sharding); `chunks` become the inner chunks. Default: no sharding. */
  shards?: readonly number[];
  /** Default Blosc lz4 clevel 5 byte shuffle (zarr-python 2's default); `null` for none. */
  compressor?: CodecConfig | null;
  /** Filters (array-to-array codecs) before the compressor. Default none. */
  filters?: readonly CodecConfig[];
  /** Fill value of unwritten regions. Default 0, false or "" by dtype. */
  fillValue?: number | bigint | boolean | string;
  /**
   * Zarr format of a new array. Default: the format of the hierarchy it joins (what
   * is at its path, else the nearest group above it), 3 for a new hierarchy; 2 for
   * `.zarray` readers. A value other than the hierarchy's is refused.
   */
  zarrFormat?: 2 | 3;
  /** Dimension names (v3 `dimension_names`, v2 `_ARRAY_DIMENSIONS` for xarray). */
  dimensionNames?: readonly (string | null)[];
  /** User attributes of a new array. */
  attributes?: Record<string, unknown>;
  /**
   * Give `filePath`'s root group a consolidated copy of the hierarchy's metadata, as
   * xarray writes, if it has none. Default false: nothing is consolidated unless it
   * already was. Either way, every consolidated copy that lists an array is kept true
   * by every save that changes the array's metadata.
   */
  consolidated?: boolean;
  /** Override the saver's `threads` for this save. */
  threads?: number;
  /** Abort a running `save` before its metadata commit; the dataset keeps its previous state. */
  signal?: AbortSignal;
  /** Called as chunks are written (about every 50 ms) and once at the end. */
  onProgress?: (progress: SaveProgress) => void;
  /** Override the saver's `durable` for this save. */
  durable?: boolean;
}

/** Progress of one save. */
export interface SaveProgress {
  /** Chunks (shards, when sharded) written so far. */
  chunksDone: number;
  /** Chunks this save writes in all. */
  chunksTotal: number;
  /** Encoded bytes stored so far, metadata included. */
  bytesWritten: number;
}

/** The save options that describe a new array, which a group save may also set per array. */
export const ARRAY_CREATION_KEYS: readonly string[] = [
  "dtype",
  "chunks",
  "shards",
  "compressor",
  "filters",
  "fillValue",
  "dimensionNames",
  "attributes",
];
const SAVE_OPTION_KEYS = new Set([
  "indices",
  "axis",
  ...ARRAY_CREATION_KEYS,
  "zarrFormat",
  "threads",
  "signal",
  "onProgress",
  "durable",
  "consolidated",
]);
const ICECHUNK_KEYS = new Set(["branch", "message"]);

/** `icechunk` as the core takes it, with the default branch; `undefined` when absent. */
export function resolveIcechunk(value: unknown): NativeIcechunk | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError("icechunk must be an object: { branch?, message? }");
  }
  checkKeys(value, ICECHUNK_KEYS, "icechunk");
  const { branch = "main", message } = value as IcechunkOptions;
  if (typeof branch !== "string" || branch.trim() === "" || branch.includes("/")) {
    throw new InvalidArgumentError(`icechunk.branch must be a branch name (no '/'); got ${JSON.stringify(branch)}`);
  }
  if (message !== undefined && typeof message !== "string") {
    throw new InvalidArgumentError(`icechunk.message must be a string; got ${String(message)}`);
  }
  return { branch, message };
}

/** The approaches, as the core's type names them (a test holds the two together). */
export const APPROACHES: readonly Approach[] = ["append", "overwrite", "update"];

export function checkKeys(value: object, allowed: Set<string>, field: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw new InvalidArgumentError(`${field}: unknown option '${key}'; expected one of ${[...allowed].join(", ")}`);
    }
  }
}

export function parseApproach(value: unknown): Approach {
  const approach = typeof value === "string" ? value.trim().toLowerCase() : value;
  if (!APPROACHES.includes(approach as Approach)) {
    throw new InvalidArgumentError(
      `approach must be one of ${APPROACHES.join(", ")}; got ${JSON.stringify(value) ?? String(value)}`,
    );
  }
  return approach as Approach;
}

export function parseThreads(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 1024) {
    throw new InvalidArgumentError(`${field} must be an integer from 1 to 1024; got ${String(value)}`);
  }
  return value;
}

/** `maxChunkBytes`: a positive integer of bytes; undefined leaves the core's default (256 MiB). */
export function parseMaxChunkBytes(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`maxChunkBytes must be a positive integer of bytes; got ${String(value)}`);
  }
  return value;
}

/** A boolean option, or undefined when absent. */
export function parseFlag(value: unknown, field: string): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") {
    throw new InvalidArgumentError(`${field} must be true or false; got ${String(value)}`);
  }
  return value;
}

/**
 * storageOptions as the object-store client takes them: snake_case keys
 * (`accessKeyId` -> `access_key_id`; the core adds the `aws_`/`google_`/`azure_`
 * prefix where needed) and string values. Values never appear in messages.
 */
export function resolveStorageOptions(options: unknown): Record<string, string> | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError("storageOptions must be an object");
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || value === null) continue;
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new InvalidArgumentError(`storageOptions.${key} must be a string, number or boolean`);
    }
    out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = String(value);
  }
  return out;
}

/** A list of integers; the core checks that each is positive and that there is one per axis. */
function dims(value: unknown, field: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => Number.isSafeInteger(v))) {
    throw new InvalidArgumentError(`${field} must be a list of positive integers; got ${JSON.stringify(value)}`);
  }
  return value as number[];
}

function compressorChoice(value: SaveOptions["compressor"]): CompressorChoice {
  if (value === undefined) return { kind: "default" };
  if (value === null) return { kind: "none" };
  return { kind: "config", config: codecJson(value, "compressor") };
}

/** The fill value as JSON: bigints as decimal strings, non-finite floats as Zarr's names. */
function fillValueJson(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (value === Number.POSITIVE_INFINITY) return "Infinity";
    if (value === Number.NEGATIVE_INFINITY) return "-Infinity";
    return value;
  }
  if (typeof value === "boolean" || typeof value === "string") return value;
  throw new InvalidArgumentError(`fillValue must be a number, bigint, boolean or string; got ${String(value)}`);
}

/**
 * What one save's data and options decide: what the save does (the destination
 * adds the dataset), the array's description and creation options, and the
 * save's own `threads` and `durable` (the destination's apply where undefined).
 */
export interface ArrayRequest {
  save: Omit<NativeSaveOptions, "dataset" | "array">;
  array: NativeArrayOptions;
  threads: number | undefined;
  durable: boolean | undefined;
}

/**
 * Check `options` and build the request of a save of `dtype` data with `approach`.
 * The save's wiring (`signal`, `onProgress`) is not part of it: see {@link saveWiring}.
 */
export function resolveSaveOptions(approach: Approach, dtype: DataType, options: SaveOptions): ArrayRequest {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`save options must be an object; got ${String(options)}`);
  }
  checkKeys(options, SAVE_OPTION_KEYS, "save options");

  let selection: NativeSaveOptions["selection"];
  if (options.indices !== undefined) {
    if (approach !== "update") {
      throw new InvalidArgumentError(`indices apply to approach 'update' only; this saver's approach is '${approach}'`);
    }
    selection = parseIndices(options.indices);
  }
  if (options.axis !== undefined && (!Number.isSafeInteger(options.axis) || options.axis < 0)) {
    throw new InvalidArgumentError(`axis must be a non-negative integer; got ${String(options.axis)}`);
  }
  if (options.dtype !== undefined && !isDataType(options.dtype)) {
    throw new InvalidArgumentError(`dtype must be one of ${DATA_TYPES.join(", ")}; got ${JSON.stringify(options.dtype)}`);
  }
  if (options.zarrFormat !== undefined && options.zarrFormat !== 2 && options.zarrFormat !== 3) {
    throw new InvalidArgumentError(`zarrFormat must be 2 or 3; got ${String(options.zarrFormat)}`);
  }
  if (options.filters !== undefined && !Array.isArray(options.filters)) {
    throw new InvalidArgumentError("filters must be a list of codec configs");
  }
  if (options.dimensionNames !== undefined) {
    const names = options.dimensionNames;
    if (!Array.isArray(names) || !names.every((n) => n === null || typeof n === "string")) {
      throw new InvalidArgumentError(`dimensionNames must be a list of strings or nulls; got ${JSON.stringify(names)}`);
    }
  }
  const attributes = options.attributes;
  if (attributes !== undefined && (typeof attributes !== "object" || attributes === null || Array.isArray(attributes))) {
    throw new InvalidArgumentError("attributes must be a plain object");
  }
  return {
    save: { approach, axis: options.axis, selection, zarrFormat: options.zarrFormat },
    array: {
      dtype,
      targetDtype: options.dtype,
      chunks: dims(options.chunks, "chunks"),
      shards: dims(options.shards, "shards"),
      compressor: compressorChoice(options.compressor),
      filters: options.filters?.map((f, i) => codecJson(f, `filters[${i}]`)),
      fillValue: fillValueJson(options.fillValue),
      dimensionNames: options.dimensionNames ? [...options.dimensionNames] : undefined,
      attributes: attributes ? (JSON.parse(JSON.stringify(attributes)) as Record<string, unknown>) : undefined,
      consolidated: parseFlag(options.consolidated, "consolidated") ?? false,
    },
    threads: parseThreads(options.threads, "threads"),
    durable: parseFlag(options.durable, "durable"),
  };
}

/** The wiring of one save (its signal and progress callback), checked. */
export function saveWiring(options: SaveOptions): Pick<SaveOptions, "signal" | "onProgress"> {
  const { signal, onProgress } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError("signal must be an AbortSignal");
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new InvalidArgumentError("onProgress must be a function");
  }
  return { signal, onProgress };
}
