/**
 * A queue worker: serves the jobs of distributed `TaskManager` runs from a
 * BullMQ queue. Each job names its task module; the worker imports it in worker
 * threads (the same pool and unit loop as an in-process run with a task module)
 * and either writes the results into the job's rows of a dataset or returns them.
 * The threads keep this process's event loop free, so BullMQ renews the job's
 * lock however long the task computes.
 */
import { availableParallelism } from "node:os";
import type { SaveData } from "../convert.js";
import { Destination } from "../destination.js";
import { InvalidArgumentError } from "../errors.js";
import { slice } from "../indices.js";
import type { SaveOptions } from "../options.js";
import { TaskFailedError } from "./errors.js";
import {
  bounded,
  checkQueueName,
  failureLog,
  type JobData,
  type JobResult,
  type JobTarget,
  loadBullmq,
  pack,
  type RedisConnection,
  readJobData,
  resolveConnection,
  stoppableConnection,
  unpack,
} from "./queue.js";
import { WorkerPool } from "./workers.js";

/** Options of {@link startWorker} (and of the `zarr-saver worker` command). */
export interface QueueWorkerOptions {
  /** The Redis server: a `redis://host:port` URL or ioredis options. */
  connection: RedisConnection;
  /** The queue's name, as given to the submitting TaskManager's `queue.name`. */
  name: string;
  /** Jobs computed at once, each in a worker thread of its own (default: `os.availableParallelism()`). */
  concurrency?: number;
  /**
   * Milliseconds a job stays locked to this worker without a renewal (default
   * 30,000). A worker that dies stops renewing: its jobs go to another worker once
   * the lock expires, checked every `lockDuration` as well.
   */
  lockDuration?: number;
  /** BullMQ's key prefix, if the submitter set one (default "bull"). */
  prefix?: string;
  /** Milliseconds to wait for the Redis server at start (default 10,000). */
  timeout?: number;
}

/** A running worker. */
export interface QueueWorker {
  /**
   * Resolves once the worker is connected and serving; rejects with
   * QueueUnavailableError when the server can't be reached within `timeout`
   * (the worker is closed then).
   */
  readonly ready: Promise<void>;
  /** Take no new job, finish the running ones, stop the threads. */
  close(): Promise<void>;
}

const OPTION_KEYS = new Set(["connection", "name", "concurrency", "lockDuration", "prefix", "timeout"]);

function positive(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${field} must be a positive integer; got ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/**
 * Write a job's results into its target; resolves with the row of the first. The
 * run's first job appends them, creating the dataset; the others update their own
 * rows, chunk-aligned, so no other writer touches their chunks and they need not
 * wait behind this process's other saves of the dataset.
 */
async function writeInPlace(target: JobTarget, results: unknown[]): Promise<number> {
  const destination = Destination.fromPortable(target);
  const data = results as SaveData;
  if (target.create !== undefined) {
    const options = unpack<SaveOptions>(target.create);
    const created = await destination.save(() => destination.prepare(target.dataset, "append", data, options));
    return created.region[0]?.[0] ?? 0;
  }
  const rows = { indices: slice(target.row, target.row + results.length) };
  await destination.save(() => destination.prepare(target.dataset, "update", data, rows, { exclusiveChunks: true }));
  return target.row;
}

/**
 * Serve the queue `name`: compute its jobs `concurrency` at a time until
 * {@link QueueWorker.close}. Returns at once; {@link QueueWorker.ready} says when
 * it serves, or that the server could not be reached within `timeout`. Bad
 * options throw here.
 *
 * Every machine running a worker needs the task module at the URL or path the
 * submitter named, and for runs that write in place, the dataset's location
 * (the same local path, or the object store with credentials from its own
 * environment, such as `AWS_ACCESS_KEY_ID`).
 */
export function startWorker(options: QueueWorkerOptions): QueueWorker {
  if (options === null || typeof options !== "object") throw new InvalidArgumentError("startWorker needs { connection, name }");
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key))
      throw new InvalidArgumentError(`startWorker: unknown option '${key}'; expected one of ${[...OPTION_KEYS].join(", ")}`);
  }
  if (options.connection === undefined) throw new InvalidArgumentError("connection is required (a redis://host:port URL)");
  const { options: connection, stop: stopReconnecting } = stoppableConnection(
    resolveConnection(options.connection, "connection"),
  );
  const name = checkQueueName(options.name, "name");
  const concurrency = positive("concurrency", options.concurrency, availableParallelism());
  const lockDuration = positive("lockDuration", options.lockDuration, 30_000);
  const timeout = positive("timeout", options.timeout, 10_000);
  if (options.prefix !== undefined && typeof options.prefix !== "string")
    throw new InvalidArgumentError("prefix must be a string");
  const bull = loadBullmq();

  /** One pool of `concurrency` threads per task module and call style. */
  const pools = new Map<string, WorkerPool<unknown, unknown>>();
  const poolFor = (module: string, atOnce: boolean): WorkerPool<unknown, unknown> => {
    const key = `${atOnce ? 1 : 0}${module}`;
    let pool = pools.get(key);
    // A thread that died (an uncaught error in a task) is not replaced in a pool: replace the pool.
    if (pool !== undefined && pool.activeWorkers < concurrency) {
      void pool.close();
      pool = undefined;
    }
    if (pool === undefined) {
      pool = new WorkerPool<unknown, unknown>(module, concurrency, atOnce);
      pools.set(key, pool);
    }
    return pool;
  };

  /** The error BullMQ records; a TaskFailedError is logged on the job first, for the submitter to rebuild. */
  const failed = async (job: { log(line: string): Promise<number> }, err: unknown): Promise<unknown> => {
    if (!(err instanceof TaskFailedError)) return err;
    await job.log(failureLog(err)).catch(() => undefined);
    return new Error(err.message);
  };

  const processor = async (job: { data: unknown; log(line: string): Promise<number> }): Promise<JobResult> => {
    let data: JobData;
    let items: unknown[];
    try {
      data = readJobData(job.data);
      items = unpack<unknown[]>(data.items);
    } catch (cause) {
      throw await failed(job, new TaskFailedError({ stage: "load", index: 0, count: 1, cause }));
    }
    let results: unknown[];
    try {
      results = await poolFor(data.module, data.atOnce).run({ start: data.start, items });
    } catch (err) {
      throw await failed(job, err);
    }
    const target = data.target;
    if (target !== undefined) {
      const began = performance.now();
      let row: number;
      try {
        row = await writeInPlace(target, results);
      } catch (cause) {
        throw await failed(job, new TaskFailedError({ stage: "save", index: data.start, count: results.length, cause }));
      }
      return { written: results.length, saveMs: performance.now() - began, ...(target.create !== undefined ? { row } : {}) };
    }
    try {
      return { results: pack(results) };
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause);
      throw await failed(
        job,
        new TaskFailedError({
          stage: "task",
          index: data.start,
          count: items.length,
          cause: new Error(`results could not be sent back through the queue: ${why}`),
        }),
      );
    }
  };

  const worker = new bull.Worker<JobData, JobResult>(name, processor, {
    connection,
    concurrency,
    lockDuration,
    stalledInterval: lockDuration,
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
  });
  // Connection errors are retried by the client; without a listener they would crash the process.
  worker.on("error", () => undefined);
  const closePools = async (): Promise<void> => {
    await Promise.all([...pools.values()].map((p) => p.close()));
    pools.clear();
  };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await worker.close();
      stopReconnecting();
      await closePools();
    })();
    return closing;
  };
  const ready = bounded(worker.waitUntilReady(), timeout, `connecting to queue '${name}'`).then(
    () => undefined,
    async (err: unknown) => {
      stopReconnecting();
      closing ??= bounded(worker.close(true), 1_000, "closing").then(closePools, closePools);
      await closing;
      throw err;
    },
  );
  // Not an unhandled rejection when the caller never looks at `ready`.
  ready.catch(() => undefined);
  return { ready, close };
}
