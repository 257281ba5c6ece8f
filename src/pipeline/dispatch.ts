/**
 * The dispatch loop of every `submitTasks` run, over two seams: an {@link Executor}
 * computes units (task objects in this thread, worker threads, or queue workers)
 * and a {@link Sink} plans the units and takes their outputs (saves in item order,
 * or the rows queue workers wrote in place). The loop alone owns the rules all runs
 * follow: how many units are in flight, how far dispatch may run ahead of the
 * sink, pausing while saves are behind (counted as stalled), counting what a
 * resumed run skips, progress, and the first failure stopping everything.
 */

import type { ItemSource } from "./input.js";
import type { ResolvedSubmitOptions } from "./options.js";
import { ProgressReporter } from "./progress.js";
import { Signal } from "./signal.js";
import type { Executor, Unit } from "./task.js";

/**
 * How far (in units of in-flight capacity) dispatch may run ahead of the first
 * item whose output the sink still waits for. Outputs that finish early wait for
 * it in memory; this bounds that memory when one item is much slower than the rest.
 */
const AHEAD_FACTOR = 4;

/** What a `submitTasks` run did, for logs and benchmarks. */
export interface SubmitSummary {
  /** Items computed. */
  items: number;
  /** Items saved (0 without a saver). */
  saved: number;
  /** `saver.save` calls. */
  saves: number;
  /** Wall time of the run. */
  elapsedMs: number;
  /** Time inside `saver.save`, summed (it overlaps computing). */
  saveMs: number;
  /** Time dispatching was paused because `maxPendingSaves` batches waited for the saver. */
  stalledMs: number;
  /** Items skipped by `resume` because the dataset already held their results. */
  skipped: number;
}

/**
 * The sink's next step: run a unit, or pass over items whose results the dataset
 * already holds (a resumed run). An `alone` unit runs by itself: nothing is
 * dispatched until it has finished (it creates the dataset the others fill).
 */
export type Step<U> = { run: U; alone?: boolean } | { held: { start: number; count: number } };

/** How a sink reaches the loop. */
export interface SinkEvents {
  /** A save finished: progress moved, and the loop may have room again. */
  saved(): void;
  /** The sink failed; nothing more is saved. */
  fail(error: unknown): void;
}

/** Where the outputs of a run's units go, and which units the run has. */
export interface Sink<I, U extends Unit<I>, O> {
  /**
   * The run's steps in item order. The loop asks for the next only when it has
   * room for it, so items are taken from `source` no sooner.
   */
  plan(source: ItemSource<I>): AsyncGenerator<Step<U>, void, undefined>;
  /** A unit's output, in any order of arrival. */
  put(unit: U, output: O): void;
  /** Outputs wait for the sink to catch up: the loop dispatches nothing new meanwhile. */
  readonly isFull: boolean;
  /** The first item whose output the sink still waits for before passing later ones on; undefined when outputs pass straight through. */
  readonly nextInOrder: number | undefined;
  /** Items saved by this run. */
  readonly saved: number;
  /** Saves made by this run. */
  readonly saves: number;
  /** Time spent saving, summed. */
  readonly saveMs: number;
  /** Save what is left, and wait for every save. */
  finish(): Promise<void>;
  /** Accept nothing more and start no other save; synchronous, for the moment of a failure. */
  stop(): void;
  /** {@link Sink.stop}, then wait for the save already running. */
  abort(): Promise<void>;
}

/** One run: its items and options, and how to open its executor and its sink. */
export interface Dispatch<I, U extends Unit<I>, O> {
  source: ItemSource<I>;
  options: ResolvedSubmitOptions;
  /** Opens the executor; `fail` lets it fail the run on its own (a queue server that stops answering). */
  openExecutor(fail: (error: unknown) => void): Executor<U, O> | Promise<Executor<U, O>>;
  /** Makes the sink, wired to the loop. */
  openSink(events: SinkEvents): Sink<I, U, O>;
}

/**
 * Run the items through the executor into the sink. Resolves once every output is
 * in the sink and saved; rejects with the first failure, after closing the
 * executor (its units in flight settle) and letting the running save finish.
 */
export async function dispatch<I, U extends Unit<I>, O>(run: Dispatch<I, U, O>): Promise<SubmitSummary> {
  const { source, options: opts } = run;
  const began = performance.now();
  opts.signal?.throwIfAborted();
  const wake = new Signal();
  let failure: { error: unknown } | undefined;
  let sink: Sink<I, U, O> | undefined;
  const fail = (error: unknown): void => {
    failure ??= { error };
    // Units still finishing must not start saves after the failure.
    sink?.stop();
    wake.notify();
  };
  let done = 0;
  let skipped = 0;
  let stalledMs = 0;
  const progress = new ProgressReporter({
    total: opts.total ?? source.total,
    onProgress: opts.onProgress,
    bar: opts.progressBar ? process.stderr : undefined,
  });
  // A throwing onProgress fails the run like a task would, rather than escaping as an unhandled rejection.
  const report = (): void => {
    try {
      progress.report(done, skipped + (sink?.saved ?? 0));
    } catch (err) {
      fail(err);
    }
  };

  const onAbort = (): void => fail(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const inflight = new Set<Promise<void>>();
  let executor: Executor<U, O> | undefined;
  let steps: AsyncGenerator<Step<U>, void, undefined> | undefined;
  try {
    const units = await run.openExecutor(fail);
    executor = units;
    const open: Sink<I, U, O> = run.openSink({
      saved: () => {
        report();
        wake.notify();
      },
      fail,
    });
    sink = open;
    const capacity = units.capacity;
    const ahead = capacity * opts.chunkSize * AHEAD_FACTOR;
    const noRoom = (): boolean =>
      inflight.size >= capacity || open.isFull || (open.nextInOrder !== undefined && source.position - open.nextInOrder >= ahead);
    /** Wait while `busy()` holds and the run has not failed; time paused behind the saver counts as stalled. */
    const waitWhile = async (busy: () => boolean): Promise<void> => {
      while (failure === undefined && busy()) {
        const bySaver = open.isFull;
        const t = performance.now();
        await wake.wait();
        if (bySaver) stalledMs += performance.now() - t;
      }
    };
    steps = open.plan(source);
    try {
      for (;;) {
        await waitWhile(noRoom);
        if (failure !== undefined) break;
        const next = await steps.next();
        if (next.done === true || failure !== undefined) break;
        const step = next.value;
        if ("held" in step) {
          done += step.held.count;
          skipped += step.held.count;
          report();
          continue;
        }
        const unit = step.run;
        const job: Promise<void> = units
          .run(unit)
          .then((output) => {
            done += unit.items.length;
            open.put(unit, output);
            report();
          })
          .catch(fail)
          .finally(() => {
            inflight.delete(job);
            wake.notify();
          });
        inflight.add(job);
        if (step.alone === true) await waitWhile(() => inflight.size > 0);
      }
    } catch (err) {
      // The items' iterator threw, or the sink could not plan (a reservation failed).
      fail(err);
    }

    if (failure === undefined) {
      await waitWhile(() => inflight.size > 0);
      if (failure === undefined) await open.finish();
      // The last report: everything computed and saved (a throwing onProgress still fails the run).
      if (failure === undefined) report();
    }
    if (failure !== undefined) {
      // Closing settles the units in flight: threads are terminated, queue jobs removed.
      await units.close();
      await Promise.all(inflight);
      await open.abort();
      throw failure.error;
    }
    return {
      items: done - skipped,
      skipped,
      saved: open.saved,
      saves: open.saves,
      elapsedMs: performance.now() - began,
      saveMs: open.saveMs,
      stalledMs,
    };
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await steps?.return(undefined).catch(() => undefined);
    await source.close().catch(() => undefined);
    await executor?.close();
    progress.end();
  }
}
