/**
 * The submitter's side of a run on a queue: an executor whose units are BullMQ
 * jobs on a Redis server, computed by queue workers (queue-worker.ts) anywhere.
 * A unit's job is added when the loop dispatches it and its output read once the
 * job has finished; a job codec says what a job carries besides its items and
 * what its result means (results returned, or rows written in place). Closing
 * removes the run's jobs left in Redis, so a run leaves nothing behind.
 */
import { randomUUID } from "node:crypto";
import type { Queue, QueueEvents } from "bullmq";
import { QueueUnavailableError, TaskFailedError } from "./errors.js";
import {
  bounded,
  type JobData,
  type JobResult,
  type JobTarget,
  loadBullmq,
  pack,
  type ResolvedQueueOptions,
  rebuildFailure,
  stoppableConnection,
  unpack,
} from "./queue.js";
import type { Executor, Unit } from "./task.js";

/** How often outstanding jobs are looked up even without an event (events can be missed across a reconnect). */
const SWEEP_MS = 2_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a unit's job carries besides its items, and what the job's result means. */
export interface JobCodec<U, O> {
  /** Where the job's worker writes the results itself; undefined: the job returns them. */
  target(unit: U): JobTarget | undefined;
  /** The unit's output, from what its job returned. */
  output(result: JobResult): O;
}

/** Jobs that return their results, for the submitter to save in item order. */
export function resultJobs<I, R>(): JobCodec<Unit<I>, R[]> {
  return {
    target: () => undefined,
    output: (result) => {
      if (result.results === undefined) throw new TypeError("a job of this run returned no results");
      return unpack<R[]>(result.results);
    },
  };
}

/** What opens a run on a queue. */
export interface QueueExecutorOptions<U, O> {
  /** Absolute URL of the task module, which every worker imports. */
  moduleUrl: string;
  queue: ResolvedQueueOptions;
  atOnce: boolean;
  codec: JobCodec<U, O>;
  /** Fails the run: the server stopped answering while no job may be waiting on it. */
  fail: (error: unknown) => void;
}

/** A job of the run, from the moment it is added until it is read or removed. */
interface Job<O> {
  /** Redis has it: before that, its state would read as unknown. */
  added: boolean;
  /** Its promise is settled. */
  settled: boolean;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

export class QueueExecutor<U extends Unit<unknown>, O> implements Executor<U, O> {
  /** Jobs of the run in Redis at once (`queue.outstanding`). */
  readonly capacity: number;
  readonly activeWorkers = 0;
  readonly #run: QueueExecutorOptions<U, O>;
  readonly #id = randomUUID();
  readonly #queue: Queue<JobData, JobResult>;
  readonly #events: QueueEvents;
  readonly #stopReconnecting: () => void;
  /** Jobs of the run in Redis, by id; a failed one stays until it is removed. */
  readonly #jobs = new Map<string, Job<O>>();
  readonly #checking = new Set<string>();
  readonly #removals: Promise<unknown>[] = [];
  #clientError: unknown;
  /** The server was lost: nothing more is asked of it. */
  #lost = false;
  #pinging = false;
  #timers: NodeJS.Timeout[] = [];
  #closing: Promise<void> | undefined;

  private constructor(run: QueueExecutorOptions<U, O>) {
    this.#run = run;
    this.capacity = run.queue.outstanding;
    const bull = loadBullmq();
    const q = run.queue;
    const { options: connection, stop } = stoppableConnection(q.connection);
    this.#stopReconnecting = stop;
    const prefix = typeof q.bullmq.prefix === "string" ? q.bullmq.prefix : undefined;
    this.#queue = new bull.Queue<JobData, JobResult>(q.name, { ...q.bullmq, connection });
    this.#events = new bull.QueueEvents(q.name, { connection, ...(prefix !== undefined ? { prefix } : {}) });
    const clientError = (err: unknown): void => {
      this.#clientError = err;
    };
    this.#queue.on("error", clientError);
    this.#events.on("error", clientError);
  }

  /** Connects to the queue (a {@link QueueUnavailableError} within `queue.timeout` otherwise) and watches it. */
  static async open<U extends Unit<unknown>, O>(run: QueueExecutorOptions<U, O>): Promise<QueueExecutor<U, O>> {
    const executor = new QueueExecutor(run);
    try {
      await bounded(
        Promise.all([executor.#queue.waitUntilReady(), executor.#events.waitUntilReady()]),
        run.queue.timeout,
        `connecting to queue '${run.queue.name}'`,
      );
    } catch (err) {
      executor.#noteLost(err);
      await executor.close();
      throw err;
    }
    executor.#watch();
    return executor;
  }

  /** Add the unit's job; resolves with its output once a worker has finished it. */
  run(unit: U): Promise<O> {
    const { queue: q, moduleUrl, atOnce, codec } = this.#run;
    const count = unit.items.length;
    let data: JobData;
    try {
      data = { run: this.#id, module: moduleUrl, atOnce, start: unit.start, count, items: pack(unit.items) };
    } catch (cause) {
      return Promise.reject(new TaskFailedError({ stage: "task", index: unit.start, count, cause }));
    }
    let target: JobTarget | undefined;
    try {
      target = codec.target(unit);
    } catch (err) {
      return Promise.reject(err);
    }
    if (target !== undefined) data.target = target;
    const id = `${this.#id}-${unit.start}`;
    return new Promise<O>((resolve, reject) => {
      const job: Job<O> = { added: false, settled: false, resolve, reject };
      this.#jobs.set(id, job);
      bounded(
        this.#queue.add("items", data, { jobId: id, attempts: q.attempts, removeOnComplete: false, removeOnFail: false }),
        q.timeout,
        "adding a job",
      ).then(
        () => {
          job.added = true;
        },
        // Kept among the jobs: the server may have added it after all, and closing removes it.
        (err: unknown) => this.#settle(job, () => reject(this.#noteLost(err))),
      );
    });
  }

  #settle(job: Job<O>, settle: () => void): void {
    if (job.settled) return;
    job.settled = true;
    settle();
  }

  /** A QueueUnavailableError marks the server lost. */
  #noteLost(err: unknown): unknown {
    if (err instanceof QueueUnavailableError) this.#lost = true;
    return err;
  }

  /** Events wake a job's lookup; a sweep looks up every job now and then; a watchdog pings the server. */
  #watch(): void {
    const onEvent = ({ jobId }: { jobId: string }): void => {
      if (this.#jobs.has(jobId)) void this.#check(jobId);
    };
    this.#events.on("completed", onEvent);
    this.#events.on("failed", onEvent);
    const sweep = setInterval(() => {
      for (const id of this.#jobs.keys()) void this.#check(id);
    }, SWEEP_MS);
    // A server that stops answering fails the run within `timeout`, whatever the run is waiting for.
    const watchdog = setInterval(() => this.#ping(), Math.min(1_000, this.#run.queue.timeout / 4));
    this.#timers = [sweep, watchdog];
  }

  #ping(): void {
    if (this.#pinging || this.#closing !== undefined) return;
    this.#pinging = true;
    void bounded(
      this.#queue.client.then((c) => (c as unknown as { ping(): Promise<string> }).ping()),
      this.#run.queue.timeout,
      "ping",
    )
      .catch((err: unknown) => {
        const lost =
          this.#clientError !== undefined ? new QueueUnavailableError((err as Error).message, { cause: this.#clientError }) : err;
        this.#run.fail(this.#noteLost(lost));
      })
      .finally(() => {
        this.#pinging = false;
      });
  }

  /** Read the state of job `id`, and settle its unit when the job has finished. */
  async #check(id: string): Promise<void> {
    const job = this.#jobs.get(id);
    if (job === undefined || !job.added || job.settled || this.#checking.has(id) || this.#closing !== undefined) return;
    const { queue: q, codec } = this.#run;
    this.#checking.add(id);
    try {
      const state = await bounded(this.#queue.getJobState(id), q.timeout, "reading a job's state");
      if (state === "completed") {
        const found = await bounded(this.#queue.getJob(id), q.timeout, "reading a finished job");
        const output = codec.output((found?.returnvalue ?? {}) as JobResult);
        this.#jobs.delete(id);
        this.#removals.push(this.#queue.remove(id).catch(() => 0));
        this.#settle(job, () => job.resolve(output));
      } else if (state === "failed") {
        const found = await bounded(this.#queue.getJob(id), q.timeout, "reading a failed job");
        const logs = await bounded(this.#queue.getJobLogs(id), q.timeout, "reading a failed job's log");
        this.#settle(job, () => job.reject(rebuildFailure(logs.logs, found?.data, found?.failedReason)));
      } else if (state === "unknown") {
        const gone = new QueueUnavailableError(
          `job ${id} of this run is no longer in queue '${q.name}' (removed by someone, or the server lost it)`,
        );
        this.#settle(job, () => job.reject(gone));
      }
    } catch (err) {
      this.#settle(job, () => job.reject(this.#noteLost(err)));
    } finally {
      this.#checking.delete(id);
    }
  }

  /**
   * Settle the units still waiting (the run has failed, or this is its end), remove
   * the run's jobs left in Redis, and close the connections.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    const stopped = new Error("the run stopped before this job finished");
    for (const job of this.#jobs.values()) this.#settle(job, () => job.reject(stopped));
    const timeout = this.#run.queue.timeout;
    if (!this.#lost) await this.#removeJobs(timeout);
    await Promise.all(this.#removals);
    if (this.#lost) this.#stopReconnecting();
    await closeAll([this.#events, this.#queue], this.#lost ? 0 : timeout);
    this.#stopReconnecting();
  }

  /**
   * Remove the run's jobs that are left: waiting ones at once, a running one once its
   * worker finishes it (it can't be removed while locked). Gives up after a few
   * `timeout`s: a job stuck on a dead worker is removed by nobody, and stays until
   * BullMQ moves it back to waiting and a worker runs it.
   */
  async #removeJobs(timeout: number): Promise<void> {
    const until = performance.now() + 3 * timeout;
    while (this.#jobs.size > 0 && performance.now() < until) {
      for (const id of [...this.#jobs.keys()]) {
        const removed = await bounded(this.#queue.remove(id), timeout, "removing a job").catch(() => 0);
        if (removed === 1) this.#jobs.delete(id);
      }
      if (this.#jobs.size > 0) await sleep(100);
    }
  }
}

/** Close BullMQ's connections; one that does not close in time (a server that is gone) is dropped. */
async function closeAll(clients: { close(): Promise<void>; disconnect(): Promise<void> }[], timeout: number): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      if (timeout > 0) {
        const closed = await bounded(c.close(), timeout, "closing").then(
          () => true,
          () => false,
        );
        if (closed) return;
      }
      // BullMQ's disconnect waits for a connection that never came up: bounded too.
      await bounded(c.disconnect(), 1_000, "disconnecting").catch(() => undefined);
    }),
  );
}
