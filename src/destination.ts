/**
 * The destination of saves: the container (a local path or an object-store URL),
 * its client options, and the settings every save there shares (threads,
 * concurrency, durable, icechunk), resolved once. `ZarrSaver` and `GroupSaver`
 * each hold one and save through it; the pipeline reads a `ZarrSaver`'s to
 * reserve rows and to tell queue workers where to write. Saves through it to one
 * dataset (or one group) run one at a time in this process, in call order.
 */
import { type Control, controlled, controlledSync, type SaveWiring } from "./control.js";
import { packData, type SaveData } from "./convert.js";
import type { DataType } from "./dtypes.js";
import { fromNativeError, InvalidArgumentError } from "./errors.js";
import { mayRunInline, ranInline, runsInline } from "./inline.js";
import type { ArrayJob, GroupJob, ResolvedRequest } from "./jobs.js";
import { resolveLocation } from "./location.js";
import {
  type NativeBinding,
  type NativeDestination,
  type NativeIcechunk,
  type NativeSaveResult,
  nativeBinding,
  type PreparedSave,
} from "./native.js";
import {
  type Approach,
  parseFlag,
  parseMaxChunkBytes,
  parseThreads,
  resolveIcechunk,
  resolveSaveOptions,
  resolveStorageOptions,
  type SaveOptions,
  saveWiring,
  type ZarrSaverOptions,
} from "./options.js";
import { RequestCache } from "./request-cache.js";

/** What a save wrote. */
export interface SaveResult {
  /** Shape of the array after the save. */
  shape: number[];
  /** Stored dtype. */
  dtype: DataType;
  /** Per axis, `[start, stop)` of the region this save wrote. */
  region: [number, number][];
  /** Whether this save created (or, with overwrite, re-created) the array. */
  created: boolean;
  /**
   * With `icechunk`: the id of the snapshot this save committed, as Icechunk names it
   * (`repo.readonly_session(snapshot_id=...)` opens the repository as this save left it).
   */
  snapshotId?: string;
}

/** The saver options that say where saves go and how they are written, shared by both savers. */
export type DestinationOptions = Pick<
  ZarrSaverOptions,
  "storageOptions" | "threads" | "concurrency" | "durable" | "icechunk" | "maxChunkBytes"
>;

/** The keys of {@link DestinationOptions}, in the order messages list them. */
export const DESTINATION_OPTION_KEYS: readonly string[] = [
  "storageOptions",
  "threads",
  "concurrency",
  "durable",
  "icechunk",
  "maxChunkBytes",
];

/** Where the end of a dataset's axis 0 is, and the grid a writer of whole chunks follows there. */
export interface Reservation {
  /** The first reserved row: the length of axis 0 before the reservation. */
  start: number;
  /** Rows of one chunk (one shard when sharded). */
  chunkRows: number;
  /** When asked for: the chunk rows (indices along axis 0) whose chunks are all stored. */
  storedChunkRows?: Set<number>;
}

/** A destination as a queue job carries it to a worker: plain data, and no secret. */
export interface PortableDestination {
  location: string;
  durable: boolean;
  /** The non-secret storage options; workers take credentials from their own environment. */
  storageOptions?: Record<string, string>;
  threads?: number;
  concurrency?: number;
  maxChunkBytes?: number;
}

/** Storage options a worker must take from its own environment rather than from a job. */
const SECRET_KEY = /secret|token|password|access_key|key_id|credential|sas|account_key|service_account/i;

/**
 * Tail of the queue of saves per dataset (or group) in this process: saves to one
 * run one at a time, in call order, even when nobody awaits them.
 */
const turns = new Map<string, Promise<unknown>>();

/** Run `job` after the saves of `key` queued before it; at once when there are none. */
function inTurn<T>(key: string, job: () => Promise<T>): Promise<T> {
  const previous = turns.get(key);
  const run = previous === undefined ? job() : previous.then(job, job);
  const tail = run.catch(() => undefined);
  turns.set(key, tail);
  // Forget the queue once it drains so long-lived processes don't accumulate keys.
  void tail.then(() => {
    if (turns.get(key) === tail) turns.delete(key);
  });
  return run;
}

/** A native result as the public type. */
function toResult(r: NativeSaveResult): SaveResult {
  return {
    shape: r.shape,
    dtype: r.dtype,
    region: r.region.map(([a, b]) => [a, b] as [number, number]),
    created: r.created,
    ...(typeof r.snapshotId === "string" ? { snapshotId: r.snapshotId } : {}),
  };
}

function toResults(results: { name: string; result: NativeSaveResult }[]): Record<string, SaveResult> {
  return Object.fromEntries(results.map((r) => [r.name, toResult(r.result)]));
}

/**
 * Where saves go and the settings they share. Every field is private and the
 * instance prints as an empty object: its storage options may hold credentials.
 */
export class Destination {
  readonly #filePath: string;
  readonly #location: string;
  readonly #storageOptions: Record<string, string> | undefined;
  readonly #threads: number | undefined;
  readonly #concurrency: number | undefined;
  readonly #durable: boolean;
  readonly #icechunk: NativeIcechunk | undefined;
  readonly #maxChunkBytes: number | undefined;
  /** The requests of recent saves, by the options they came from. */
  readonly #requests = new RequestCache<ResolvedRequest>();

  /** Checks every option, naming the field; the savers check which keys they accept. */
  constructor(filePath: string | URL, options: DestinationOptions) {
    this.#location = resolveLocation(filePath);
    this.#filePath = filePath instanceof URL ? filePath.href : filePath;
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

  /** The destination a queue worker was sent ({@link Destination.portable}'s inverse). */
  static fromPortable(portable: PortableDestination): Destination {
    const { location, durable, storageOptions, threads, concurrency, maxChunkBytes } = portable;
    return new Destination(location, { durable, storageOptions, threads, concurrency, maxChunkBytes });
  }

  /** The container as given. */
  get filePath(): string {
    return this.#filePath;
  }

  /** The container resolved: an absolute local path or an object-store URL. */
  get location(): string {
    return this.#location;
  }

  /** Whether the container is an Icechunk repository (each save one commit). */
  get isIcechunk(): boolean {
    return this.#icechunk !== undefined;
  }

  /**
   * Everything about saving `data` into `dataset` that can fail before the core
   * runs: the data packed (a typed array is viewed, not copied) and the options
   * checked, or found the same as a recent save's (request-cache.ts).
   * `exclusiveChunks`: the save's rows are chunks no other writer touches, so it
   * need not wait behind this process's other saves of the dataset.
   */
  prepare(dataset: string, approach: Approach, data: SaveData, options: SaveOptions, { exclusiveChunks = false } = {}): ArrayJob {
    const packed = packData(data);
    const resolved = this.#requests.resolve(dataset, approach, packed.dtype, exclusiveChunks, options, () => {
      const own = resolveSaveOptions(approach, packed.dtype, options);
      const destination = this.native(own.threads, own.durable);
      const request = { ...own.save, dataset, array: own.array, ...(exclusiveChunks ? { exclusiveChunks } : {}) };
      const key = `${this.#location}\0${dataset}`;
      return { destination, request, key, inline: mayRunInline(destination, request) };
    });
    return { resolved, packed, ...saveWiring(options) };
  }

  /** This destination as the core takes it, with a save's own `threads` and `durable` where given. */
  native(threads?: number, durable?: boolean): NativeDestination {
    return {
      location: this.#location,
      storageOptions: this.#storageOptions,
      concurrency: this.#concurrency,
      durable: durable ?? this.#durable,
      threads: threads ?? this.#threads,
      icechunk: this.#icechunk,
      maxChunkBytes: this.#maxChunkBytes,
    };
  }

  /**
   * Run `prepare`, then its save once this process's earlier saves of the dataset
   * have settled: off the JS thread, or on it when inline.ts says so. An update
   * marked `exclusiveChunks` does not wait for them.
   */
  save(prepare: () => ArrayJob): Promise<SaveResult> {
    return this.#start(prepare, (native, job) => {
      const offThread = (): Promise<SaveResult> =>
        controlled(native, job, (control) =>
          native
            .save(this.#prepared(native, job), job.packed.shape, job.packed.bytes, job.packed.strings, control)
            .then(toResult),
        );
      const { key, request } = job.resolved;
      // Saves of chunks no other writer touches need not wait for the dataset's others.
      const queued = request.exclusiveChunks !== true;
      if (queued && turns.has(key)) return inTurn(key, () => (runsInline(job) ? this.#saveInline(native, job) : offThread()));
      // Nothing queued before it: an inline save has settled when it returns, so it is not queued either.
      if (runsInline(job)) return this.#saveInline(native, job);
      return queued ? inTurn(key, offThread) : offThread();
    });
  }

  /**
   * A small local append, run here on the JS thread (inline.ts says when: a worker
   * thread would cost it as much again): its result, settled.
   */
  #saveInline(native: NativeBinding, job: ArrayJob): Promise<SaveResult> {
    const t0 = performance.now();
    let result: NativeSaveResult;
    try {
      result = native.saveSync(this.#prepared(native, job), job.packed.shape, job.packed.bytes, job.packed.strings);
    } catch (err) {
      return Promise.reject(fromNativeError(err));
    }
    ranInline(job.resolved.key, performance.now() - t0);
    return Promise.resolve(toResult(result));
  }

  /** {@link Destination.save}, blocking the calling thread. */
  saveSync(prepare: () => ArrayJob): SaveResult {
    return toResult(
      this.#startSync(prepare, (native, job, control) =>
        native.saveSync(this.#prepared(native, job), job.packed.shape, job.packed.bytes, job.packed.strings, control),
      ),
    );
  }

  /** Run `prepare`, then its group save in one commit, after this process's earlier saves of the group. */
  saveGroup(prepare: () => GroupJob): Promise<Record<string, SaveResult>> {
    return this.#start(prepare, (native, job) =>
      inTurn(`${this.#location}\0${job.options.group}\0group`, () =>
        controlled(native, job, (control) => native.saveGroup(job.destination, job.options, job.arrays, control).then(toResults)),
      ),
    );
  }

  /** {@link Destination.saveGroup}, blocking the calling thread. */
  saveGroupSync(prepare: () => GroupJob): Record<string, SaveResult> {
    return toResults(
      this.#startSync(prepare, (native, job, control) => native.saveGroupSync(job.destination, job.options, job.arrays, control)),
    );
  }

  /** `job`'s request as the core keeps it converted, made at its first save of one array. */
  #prepared(native: NativeBinding, job: ArrayJob): PreparedSave {
    const { resolved } = job;
    resolved.prepared ??= new native.PreparedSave(resolved.destination, resolved.request);
    return resolved.prepared;
  }

  /** The core first (a missing core is the error to report), then `prepare`, then `run`; what throws rejects. */
  #start<J, T>(prepare: () => J, run: (native: NativeBinding, job: J) => Promise<T>): Promise<T> {
    let native: NativeBinding;
    let job: J;
    try {
      native = nativeBinding();
      job = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    return run(native, job);
  }

  /** The blocking twin of `#start`: the core, then `prepare`, then the save on this thread. */
  #startSync<J extends SaveWiring, T>(
    prepare: () => J,
    start: (native: NativeBinding, job: J, control: Control | undefined) => T,
  ): T {
    const native = nativeBinding();
    const job = prepare();
    return controlledSync(native, job, (control) => start(native, job, control));
  }

  /**
   * Grow `dataset`'s axis 0 by `rows` rows that read as the fill value until
   * written (0: only describe it), under the append's commit protocol.
   * `stored` also lists the chunk rows already stored.
   */
  async reserve(dataset: string, rows: number, stored = false): Promise<Reservation> {
    const native = nativeBinding();
    try {
      const r = await native.reserve(this.native(), { dataset, rows, stored });
      const reservation: Reservation = { start: r.start, chunkRows: r.chunkShape[0] ?? 1 };
      if (r.storedChunkRows != null) reservation.storedChunkRows = new Set(r.storedChunkRows);
      return reservation;
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** This destination as a queue job carries it: secrets stay behind (see {@link PortableDestination}). */
  portable(): PortableDestination {
    const portable: PortableDestination = { location: this.#location, durable: this.#durable };
    if (this.#storageOptions !== undefined) {
      portable.storageOptions = Object.fromEntries(Object.entries(this.#storageOptions).filter(([key]) => !SECRET_KEY.test(key)));
    }
    if (this.#threads !== undefined) portable.threads = this.#threads;
    if (this.#concurrency !== undefined) portable.concurrency = this.#concurrency;
    if (this.#maxChunkBytes !== undefined) portable.maxChunkBytes = this.#maxChunkBytes;
    return portable;
  }
}
