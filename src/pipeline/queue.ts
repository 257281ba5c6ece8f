/**
 * What the submitter (queue-executor.ts) and the queue workers (queue-worker.ts)
 * share: the queue's options, the Redis connection, how BullMQ is loaded, and
 * the data of a job and of its result. Both sides import these types, so the
 * compiler checks one against the other.
 */
import { createRequire } from "node:module";
import { deserialize, serialize } from "node:v8";
import type { PortableDestination } from "../destination.js";
import { InvalidArgumentError } from "../errors.js";
import { QueueUnavailableError, TaskFailedError, type TaskStage } from "./errors.js";
import { type DescribedError, describeError, reviveError } from "./worker-protocol.js";

/** Where the Redis (or Valkey) server is, as ioredis takes it. */
export interface RedisConnectionOptions {
  /** Host name or address (default 127.0.0.1). */
  host?: string;
  /** Port (default 6379). */
  port?: number;
  /** User name, for servers with ACLs. */
  username?: string;
  /** Password; never shown in messages. */
  password?: string;
  /** Database number. */
  db?: number;
  /** TLS options (`{}` for the defaults), as `tls.connect` takes them. */
  tls?: Record<string, unknown>;
  /** Any other ioredis option. */
  [option: string]: unknown;
}

/** A `redis://` or `rediss://` URL (`redis://user:password@host:port/db`), or ioredis options. */
export type RedisConnection = string | RedisConnectionOptions;

/**
 * `new TaskManager(moduleUrl, { queue })`: run the task on BullMQ workers over a
 * Redis server instead of in this process. Keys other than those listed are
 * passed to BullMQ's `Queue` as they are (`prefix`, `defaultJobOptions` ...).
 */
export interface QueueOptions {
  /** The Redis server. */
  connection: RedisConnection;
  /** The queue's name: workers started with the same name serve it. */
  name: string;
  /** Tries of a job whose task throws before the run fails (default 1: no retry). A job whose worker died is retried regardless. */
  attempts?: number;
  /** Jobs of a run in Redis at once (default 64): items are pulled from an iterable only as jobs finish. */
  outstanding?: number;
  /** Milliseconds a Redis command may take, and the longest the server may stay unreachable, before the run fails with {@link QueueUnavailableError} (default 10,000). */
  timeout?: number;
  /** Passed to BullMQ's `Queue`. */
  [option: string]: unknown;
}

/** {@link QueueOptions} checked, with defaults. */
export interface ResolvedQueueOptions {
  connection: RedisConnectionOptions;
  name: string;
  attempts: number;
  outstanding: number;
  timeout: number;
  /** The rest, for BullMQ. */
  bullmq: Record<string, unknown>;
}

function positive(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a positive integer; got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/** A connection URL or options as ioredis options; the message never repeats a password. */
export function resolveConnection(connection: unknown, field = "queue.connection"): RedisConnectionOptions {
  if (typeof connection === "string") {
    let url: URL;
    try {
      url = new URL(connection);
    } catch {
      throw new InvalidArgumentError(`${field} must be a redis://host:port URL or ioredis options; got an unparsable string`);
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw new InvalidArgumentError(`${field} must be a redis:// or rediss:// URL; got a ${url.protocol} URL`);
    }
    const options: RedisConnectionOptions = { host: url.hostname || "127.0.0.1", port: Number(url.port || 6379) };
    if (url.username) options.username = decodeURIComponent(url.username);
    if (url.password) options.password = decodeURIComponent(url.password);
    const db = url.pathname.replace(/^\//, "");
    if (db !== "") {
      if (!/^\d+$/.test(db)) throw new InvalidArgumentError(`${field}: the URL's path must be a database number; got '${db}'`);
      options.db = Number(db);
    }
    if (url.protocol === "rediss:") options.tls = {};
    return options;
  }
  if (connection === null || typeof connection !== "object" || Array.isArray(connection)) {
    throw new InvalidArgumentError(`${field} must be a redis://host:port URL or ioredis options`);
  }
  return { ...(connection as RedisConnectionOptions) };
}

/** Checks `name`: BullMQ uses it in Redis keys, where `:` separates parts. */
export function checkQueueName(name: unknown, field = "queue.name"): string {
  if (typeof name !== "string" || name === "" || name.includes(":")) {
    throw new InvalidArgumentError(
      `${field} must be a non-empty string without ':'; got ${JSON.stringify(name) ?? String(name)}`,
    );
  }
  return name;
}

export function resolveQueueOptions(queue: unknown): ResolvedQueueOptions {
  if (queue === null || typeof queue !== "object" || Array.isArray(queue)) {
    throw new InvalidArgumentError("queue must be an object: { connection, name }");
  }
  const { connection, name, attempts, outstanding, timeout, ...bullmq } = queue as QueueOptions;
  if (connection === undefined) throw new InvalidArgumentError("queue.connection is required (a redis://host:port URL)");
  return {
    connection: resolveConnection(connection),
    name: checkQueueName(name),
    attempts: positive("queue.attempts", attempts, 1),
    outstanding: positive("queue.outstanding", outstanding, 64),
    timeout: positive("queue.timeout", timeout, 10_000),
    bullmq,
  };
}

/** The parts of BullMQ used here; loaded only when a queue is used, as it is an optional peer dependency. */
export type BullMQ = typeof import("bullmq");

/** BullMQ, loaded on first use (synchronously, so that `startWorker` can return its worker at once). */
export function loadBullmq(): BullMQ {
  try {
    return createRequire(import.meta.url)("bullmq") as BullMQ;
  } catch (cause) {
    throw new InvalidArgumentError(
      "a TaskManager queue and queue workers need the 'bullmq' package (an optional peer dependency): npm install bullmq",
      { cause },
    );
  }
}

/** `promise`, or a {@link QueueUnavailableError} saying `what` once `ms` have passed. */
export async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailableError(`the Redis server did not answer within ${ms} ms (${what})`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } catch (err) {
    if (err instanceof QueueUnavailableError) throw err;
    throw new QueueUnavailableError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ioredis options that reconnect (backing off up to 2 s) until `stop()`: after it,
 * the clients give up, so that closing a connection to a server that is gone
 * neither waits for it nor keeps the process alive with reconnection timers.
 */
export function stoppableConnection(options: RedisConnectionOptions): {
  options: RedisConnectionOptions;
  stop(): void;
} {
  let stopped = false;
  return {
    options: {
      ...options,
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => (stopped ? null : Math.min(times * 100, 2_000)),
    },
    stop: () => {
      stopped = true;
    },
  };
}

/** Values that cross Redis as the structured clone of worker threads does (typed arrays, BigInt, Map ...), base64. */
export function pack(value: unknown): string {
  return serialize(value).toString("base64");
}

export function unpack<T>(text: string): T {
  return deserialize(Buffer.from(text, "base64")) as T;
}

/** Where a worker writes a job's results itself: rows of a ZarrSaver's dataset (see in-place.ts). */
export interface JobTarget extends PortableDestination {
  dataset: string;
  /** Row of the job's first item. */
  row: number;
  /** Append instead, creating the dataset with these save options (packed): the run's first job, when the dataset is missing. */
  create?: string;
}

/** The data of one job: items `start` .. of a run, and what to run on them. */
export interface JobData {
  /** The run the job belongs to. */
  run: string;
  /** Absolute URL of the task module; every worker imports it from there. */
  module: string;
  atOnce: boolean;
  /** Index of the job's first item in the run's input. */
  start: number;
  /** Number of items. */
  count: number;
  /** The items, packed. */
  items: string;
  /** Write the results into a dataset instead of returning them. */
  target?: JobTarget;
}

/** What a job returns: its results packed, or how many rows it wrote. */
export interface JobResult {
  results?: string;
  written?: number;
  saveMs?: number;
  /** Where a creating append wrote its first row. */
  row?: number;
}

/** The structured failure a worker logs on the job before failing it, so the submitter can rebuild the TaskFailedError. */
export interface JobFailure {
  stage: TaskStage;
  index: number;
  count: number;
  /** The failing item, packed, when the failure is about one item. */
  item?: string;
  cause: DescribedError;
}

/** Prefix of the job log line holding a {@link JobFailure}. */
export const FAILURE_LOG = "zarr-saver failure ";

export function failureLog(err: TaskFailedError): string {
  const failure: JobFailure = { stage: err.stage, index: err.index, count: err.count, cause: describeError(err.cause) };
  if (err.count === 1) {
    try {
      failure.item = pack(err.item);
    } catch {
      // An item that can't be cloned stays out; the index still names it.
    }
  }
  return FAILURE_LOG + JSON.stringify(failure);
}

/** The TaskFailedError a worker logged, or one built from what BullMQ kept. */
export function rebuildFailure(logs: string[], data: JobData | undefined, failedReason: string | undefined): TaskFailedError {
  const line = [...logs].reverse().find((l) => l.startsWith(FAILURE_LOG));
  if (line !== undefined) {
    try {
      const f = JSON.parse(line.slice(FAILURE_LOG.length)) as JobFailure;
      const cause = reviveError(f.cause);
      return new TaskFailedError(
        f.item !== undefined
          ? { stage: f.stage, index: f.index, count: f.count, item: unpack(f.item), cause }
          : { stage: f.stage, index: f.index, count: f.count, cause },
      );
    } catch {
      // A damaged log line: fall back to what BullMQ kept.
    }
  }
  return new TaskFailedError({
    stage: "task",
    index: data?.start ?? 0,
    count: data?.count ?? 1,
    cause: new Error(failedReason ?? "the job failed without a reason"),
  });
}

/** `data` as {@link JobData}, or a TypeError: a worker checks what it was given. */
export function readJobData(data: unknown): JobData {
  const d = data as Partial<JobData> | null;
  if (
    d === null ||
    typeof d !== "object" ||
    typeof d.run !== "string" ||
    typeof d.module !== "string" ||
    typeof d.atOnce !== "boolean" ||
    typeof d.start !== "number" ||
    typeof d.count !== "number" ||
    typeof d.items !== "string"
  ) {
    throw new TypeError("not a zarr-saver job: its data lacks run, module, atOnce, start, count or items");
  }
  return d as JobData;
}
