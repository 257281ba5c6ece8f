/**
 * The submitter of a distributed run: `submitTasks` of a `TaskManager` with a
 * `queue`. Items go to Redis as BullMQ jobs, pulled from the input only while
 * fewer than `queue.outstanding` jobs of the run wait or run; queue workers
 * (queue-worker.ts) compute them.
 *
 * With a ZarrSaver that appends along axis 0, results are written in place: the
 * submitter reserves the run's rows in the dataset (all at once for an array of
 * items, job by job for an iterable) and each job carries the rows it fills; the
 * worker writes them with an update, so no result crosses Redis. Jobs cover whole
 * chunks of the dataset (the first may start inside one), so no two jobs write
 * one chunk, and a retried job rewrites the same rows with the same values. When
 * the dataset does not exist yet, the worker of the first job (the first
 * `saveInterval` items) appends them as an in-process run's first save would,
 * creating the array with the run's `saveOptions`; the other jobs follow it.
 *
 * With any other saver, or none, jobs return their results and the submitter
 * saves them in item order, as in-process runs do.
 */
import { randomUUID } from "node:crypto";
import { ConflictError, DatasetNotFoundError } from "../errors.js";
import type { SaveOptions } from "../options.js";
import { QueueUnavailableError, TaskFailedError } from "./errors.js";
import { inPlaceTarget, publicStorageOptions, reserveRows } from "./in-place.js";
import { knownTotal, type TaskItems } from "./input.js";
import type { ResolvedSubmitOptions } from "./options.js";
import { OrderedSaves } from "./ordered-saves.js";
import { ProgressReporter } from "./progress.js";
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
import { Signal } from "./signal.js";
import type { SubmitSummary } from "./task-manager.js";

/** How far (in jobs) results may arrive ahead of the first missing one, as a multiple of `outstanding`. */
const AHEAD_FACTOR = 4;
/** How often outstanding jobs are looked up even without an event (events can be missed across a reconnect). */
const SWEEP_MS = 2_000;

/** Items pulled on demand from an array, an iterable or an async iterable. */
class ItemSource<I> {
  readonly #array: readonly I[] | undefined;
  readonly #iterator: Iterator<I> | AsyncIterator<I> | undefined;
  #position = 0;
  #ended = false;

  constructor(items: TaskItems<I>) {
    if (Array.isArray(items)) {
      this.#array = items;
    } else if (Symbol.asyncIterator in (items as object)) {
      this.#iterator = (items as AsyncIterable<I>)[Symbol.asyncIterator]();
    } else {
      this.#iterator = (items as Iterable<I>)[Symbol.iterator]();
    }
  }

  /** Up to `n` next items; fewer only at the end. */
  async take(n: number): Promise<I[]> {
    if (this.#array !== undefined) {
      const out = this.#array.slice(this.#position, this.#position + n);
      this.#position += out.length;
      return out;
    }
    const out: I[] = [];
    const it = this.#iterator as Iterator<I> | AsyncIterator<I>;
    while (!this.#ended && out.length < n) {
      const step = await it.next();
      if (step.done) this.#ended = true;
      else out.push(step.value);
    }
    return out;
  }

  /** Let a generator run its `finally` when the run stops early. */
  async close(): Promise<void> {
    if (!this.#ended) await this.#iterator?.return?.();
  }
}

/** The run's saveOptions as a worker's creating append takes them: data only, no signal or callback. */
function creationOptions(options: SaveOptions | undefined): SaveOptions {
  const { signal: _signal, onProgress: _onProgress, ...rest } = options ?? {};
  return rest;
}

/** Indices of the chunk rows that rows `[start, end)` touch. */
function chunkRange(start: number, end: number, chunkRows: number): number[] {
  const out: number[] = [];
  for (let c = Math.floor(start / chunkRows); c * chunkRows < end; c++) out.push(c);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface DistributedRun<I> {
  moduleUrl: string;
  queue: ResolvedQueueOptions;
  items: TaskItems<I>;
  opts: ResolvedSubmitOptions;
}

/** One distributed `submitTasks`; `results` receives the collected results when there is no saver. */
export async function runDistributed<I, R>(run: DistributedRun<I>, results: (r: R[]) => void): Promise<SubmitSummary> {
  const { moduleUrl, queue: q, items, opts } = run;
  const began = performance.now();
  opts.signal?.throwIfAborted();
  const bull = loadBullmq();
  const runId = randomUUID();
  const { options: connection, stop: stopReconnecting } = stoppableConnection(q.connection);
  const prefix = typeof q.bullmq.prefix === "string" ? q.bullmq.prefix : undefined;
  const queue = new bull.Queue<JobData, JobResult>(q.name, { ...q.bullmq, connection });
  const events = new bull.QueueEvents(q.name, { connection, ...(prefix !== undefined ? { prefix } : {}) });
  let clientError: unknown;
  queue.on("error", (err) => {
    clientError = err;
  });
  events.on("error", (err) => {
    clientError = err;
  });

  const signal = new Signal();
  let failure: { error: unknown } | undefined;
  let redisLost = false;
  const fail = (error: unknown): void => {
    if (failure === undefined) {
      failure = { error };
      if (error instanceof QueueUnavailableError) redisLost = true;
    }
    sink?.stop();
    signal.notify();
  };

  const target = inPlaceTarget(opts);
  let done = 0;
  let written = 0;
  let saves = 0;
  let saveMs = 0;
  let stalledMs = 0;
  let skipped = 0;
  const progress = new ProgressReporter({
    total: opts.total ?? knownTotal(items),
    onProgress: opts.onProgress,
    bar: opts.progressBar ? process.stderr : undefined,
  });
  // In place, workers write every result themselves and jobs return row counts: no sink.
  const sink: OrderedSaves<R> | undefined =
    target === undefined
      ? new OrderedSaves<R>({
          saver: opts.saver,
          saveInterval: opts.saveInterval,
          saveOptions: opts.saveOptions,
          maxPendingSaves: opts.maxPendingSaves,
          onSaved: () => {
            report();
            signal.notify();
          },
          onError: fail,
        })
      : undefined;
  const saved = (): number => (sink !== undefined ? sink.saved : written);
  const report = (): void => {
    try {
      progress.report(done, saved());
    } catch (err) {
      fail(err);
    }
  };

  /** Jobs of the run in Redis, by id. */
  const outstanding = new Map<string, { start: number; count: number; added: boolean }>();
  /** Row where the job that created the dataset wrote its first result. */
  let createdRow: number | undefined;
  const checking = new Set<string>();
  const removals: Promise<unknown>[] = [];

  const settle = async (id: string): Promise<void> => {
    const meta = outstanding.get(id);
    // Not looked up before Redis has it: its state would read as unknown.
    if (meta === undefined || !meta.added || checking.has(id) || failure !== undefined) return;
    checking.add(id);
    try {
      const state = await bounded(queue.getJobState(id), q.timeout, "reading a job's state");
      if (state === "completed") {
        const job = await bounded(queue.getJob(id), q.timeout, "reading a finished job");
        const value = (job?.returnvalue ?? {}) as JobResult;
        if (!outstanding.delete(id)) return;
        done += meta.count;
        if (value.results !== undefined) {
          sink?.put(meta.start, unpack<R[]>(value.results));
        } else {
          if (value.row !== undefined) createdRow = value.row;
          written += value.written ?? 0;
          saves += 1;
          saveMs += value.saveMs ?? 0;
        }
        removals.push(queue.remove(id).catch(() => 0));
        report();
        signal.notify();
      } else if (state === "failed") {
        const job = await bounded(queue.getJob(id), q.timeout, "reading a failed job");
        const logs = await bounded(queue.getJobLogs(id), q.timeout, "reading a failed job's log");
        fail(rebuildFailure(logs.logs, job?.data, job?.failedReason));
      } else if (state === "unknown") {
        fail(
          new QueueUnavailableError(
            `job ${id} of this run is no longer in queue '${q.name}' (removed by someone, or the server lost it)`,
          ),
        );
      }
    } catch (err) {
      fail(err);
    } finally {
      checking.delete(id);
    }
  };
  const onEvent = ({ jobId }: { jobId: string }): void => {
    if (outstanding.has(jobId)) void settle(jobId);
  };
  events.on("completed", onEvent);
  events.on("failed", onEvent);

  const sweep = setInterval(() => {
    for (const id of outstanding.keys()) void settle(id);
  }, SWEEP_MS);
  // A watchdog: a server that stops answering fails the run within `timeout`, whatever the run is waiting for.
  let pinging = false;
  const watchdog = setInterval(
    () => {
      if (pinging || failure !== undefined) return;
      pinging = true;
      void bounded(
        queue.client.then((c) => (c as unknown as { ping(): Promise<string> }).ping()),
        q.timeout,
        "ping",
      )
        .catch((err: unknown) =>
          fail(clientError !== undefined ? new QueueUnavailableError((err as Error).message, { cause: clientError }) : err),
        )
        .finally(() => {
          pinging = false;
        });
    },
    Math.min(1_000, q.timeout / 4),
  );
  const onAbort = (): void => fail(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  const source = new ItemSource<I>(items);

  /**
   * Enqueue items `start ..`; with `row`, the worker writes them into the target
   * there; with `create`, it appends them, creating the dataset with the run's
   * `saveOptions`.
   */
  const add = async (start: number, jobItems: I[], row?: number, create = false): Promise<void> => {
    let packed: string;
    try {
      packed = pack(jobItems);
    } catch (cause) {
      throw new TaskFailedError({ stage: "task", index: start, count: jobItems.length, cause });
    }
    const data: JobData = { run: runId, module: moduleUrl, atOnce: opts.atOnce, start, count: jobItems.length, items: packed };
    if (target !== undefined && row !== undefined) {
      const jobTarget: JobTarget = { location: target.location, dataset: target.dataset, durable: target.durable, row };
      const storage = publicStorageOptions(target.storageOptions);
      if (storage !== undefined) jobTarget.storageOptions = storage;
      if (target.threads !== undefined) jobTarget.threads = target.threads;
      if (target.concurrency !== undefined) jobTarget.concurrency = target.concurrency;
      if (create) jobTarget.create = pack(creationOptions(opts.saveOptions));
      data.target = jobTarget;
    }
    const id = `${runId}-${start}`;
    const meta = { start, count: jobItems.length, added: false };
    outstanding.set(id, meta);
    await bounded(
      queue.add("items", data, { jobId: id, attempts: q.attempts, removeOnComplete: false, removeOnFail: false }),
      q.timeout,
      "adding a job",
    );
    meta.added = true;
  };

  /** Wait while `busy()` holds and the run has not failed; time paused behind the saver counts as stalled. */
  const waitWhile = async (busy: () => boolean): Promise<void> => {
    while (failure === undefined && busy()) {
      const bySaver = sink?.isFull === true;
      const t = performance.now();
      await signal.wait();
      if (bySaver) stalledMs += performance.now() - t;
    }
  };

  try {
    await bounded(Promise.all([queue.waitUntilReady(), events.waitUntilReady()]), q.timeout, `connecting to queue '${q.name}'`);
    let next = 0;
    if (target === undefined) {
      const ahead = q.outstanding * opts.chunkSize * AHEAD_FACTOR;
      for (;;) {
        await waitWhile(
          () => outstanding.size >= q.outstanding || sink?.isFull === true || next - (sink?.nextIndex ?? 0) >= ahead,
        );
        if (failure !== undefined) break;
        const chunk = await source.take(opts.chunkSize);
        if (chunk.length === 0) break;
        await add(next, chunk);
        next += chunk.length;
        if (chunk.length < opts.chunkSize) break;
      }
    } else {
      let reservation = await reserveRows(target, 0, opts.resume).catch((err: unknown) => {
        if (err instanceof DatasetNotFoundError) return undefined;
        throw err;
      });
      let base: number | undefined;
      if (reservation === undefined) {
        // No dataset yet: a worker appends the first batch as an in-process run's first save
        // would (the same items, the same saveOptions), creating it; then jobs fill rows after it.
        const first = await source.take(opts.saveInterval);
        if (first.length > 0) {
          await add(0, first, 0, true);
          await waitWhile(() => outstanding.size > 0);
          if (failure === undefined) {
            next = first.length;
            base = createdRow ?? 0;
            reservation = await reserveRows(target, 0);
          }
        }
      } else if (opts.resume) {
        // Resuming: item i belongs at row i; rows up to the length are already reserved.
        base = 0;
      }
      if (failure === undefined && reservation !== undefined) {
        base ??= reservation.start - next;
        const held = reservation.storedChunkRows;
        const chunkRows = reservation.chunkRows;
        // A job covers whole chunks (the first may start inside one): at least chunkSize items.
        const jobRows = chunkRows * Math.max(1, Math.ceil(opts.chunkSize / chunkRows));
        const total = knownTotal(items);
        let reservedEnd = opts.resume ? Math.max(reservation.start, base + next) : base + next;
        const reserveTo = async (end: number): Promise<void> => {
          if (end <= reservedEnd) return;
          const r = await reserveRows(target, end - reservedEnd);
          if (r.start !== reservedEnd) {
            throw new ConflictError(
              `another writer appended to dataset '${target.dataset}' during the run (expected its length ${reservedEnd}, found ${r.start})`,
            );
          }
          reservedEnd = end;
        };
        if (total !== undefined) await reserveTo(base + total);
        for (;;) {
          await waitWhile(() => outstanding.size >= q.outstanding);
          if (failure !== undefined) break;
          const row = base + next;
          const size = jobRows - (row % jobRows);
          const chunk = await source.take(size);
          if (chunk.length === 0) break;
          // Resuming: a job's rows are held when every chunk holding them is stored. The
          // first job is always redone: an interrupted run's first save may have stored
          // its chunk before the rest of that chunk's rows came.
          const end = row + chunk.length;
          if (
            held !== undefined &&
            row >= jobRows &&
            end <= reservation.start &&
            chunkRange(row, end, chunkRows).every((c) => held.has(c))
          ) {
            skipped += chunk.length;
            done += chunk.length;
            written += chunk.length;
            report();
          } else {
            await reserveTo(end);
            await add(next, chunk, row);
          }
          next += chunk.length;
          if (chunk.length < size) break;
        }
      }
    }
    await waitWhile(() => outstanding.size > 0);
    if (failure === undefined && sink !== undefined) await sink.finish();
    if (failure === undefined) report();
  } catch (err) {
    fail(err);
  } finally {
    clearInterval(sweep);
    clearInterval(watchdog);
    opts.signal?.removeEventListener("abort", onAbort);
    await source.close().catch(() => undefined);
    if (failure !== undefined) {
      await sink?.abort();
      if (!redisLost) await removeJobs(queue, outstanding, q.timeout);
    }
    await Promise.all(removals);
    if (redisLost) stopReconnecting();
    await closeAll([events, queue], redisLost ? 0 : q.timeout);
    stopReconnecting();
    if (sink !== undefined) results(sink.results);
    progress.end();
  }
  if (failure !== undefined) throw failure.error;
  return {
    items: done - skipped,
    saved: saved() - skipped,
    saves: sink !== undefined ? sink.saves : saves,
    elapsedMs: performance.now() - began,
    saveMs: sink !== undefined ? sink.saveMs : saveMs,
    stalledMs,
    skipped,
  };
}

/**
 * Remove the run's jobs that are left: waiting ones at once, a running one once its
 * worker finishes it (it can't be removed while locked). Gives up after a few
 * `timeout`s: a job stuck on a dead worker is removed by nobody, and stays until
 * BullMQ moves it back to waiting and a worker runs it.
 */
async function removeJobs(
  queue: { remove(id: string): Promise<number> },
  outstanding: Map<string, unknown>,
  timeout: number,
): Promise<void> {
  const until = performance.now() + 3 * timeout;
  while (outstanding.size > 0 && performance.now() < until) {
    for (const id of [...outstanding.keys()]) {
      const removed = await bounded(queue.remove(id), timeout, "removing a job").catch(() => 0);
      if (removed === 1) outstanding.delete(id);
    }
    if (outstanding.size > 0) await sleep(100);
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
