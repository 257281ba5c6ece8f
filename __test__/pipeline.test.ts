import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  IndicesRequiredError,
  InvalidArgumentError,
  type Progress,
  type SaveOptions,
  type Saver,
  TaskFailedError,
  TaskManager,
  ZarrSaver,
  ZarrSaverError,
} from "../src/index.js";
import { ProgressReporter, renderBar } from "../src/pipeline/progress.js";
import { readValues } from "./helpers/read.js";
import { tempDir } from "./helpers/tmp.js";

// Worker threads here run the built worker, dist/worker.mjs (made by `npm run build:ts`,
// which `npm install` runs too). These tests load the package from its TypeScript
// sources, but a worker thread can't start a .ts file: the transform that serves src/
// to the tests does not reach threads, and Node 20 strips no types. A loader handed to
// every thread would mean more moving parts and a worker unlike the shipped one; the
// built worker is the shipped one, and beforeAll refuses a build older than its
// sources. "TaskManager from the built package" starts it through dist/index.js and
// dist/index.cjs, with no mock.
vi.mock("../src/pipeline/worker-entry.js", () => ({ WORKER_URL: new URL("../dist/worker.mjs", import.meta.url) }));

const ROOT = join(import.meta.dirname, "..");
const BUILT_WORKER = join(ROOT, "dist", "worker.mjs");

beforeAll(() => {
  if (!existsSync(BUILT_WORKER)) throw new Error("dist/worker.mjs is missing: run `npm run build:ts` first");
  // The bundle names each module it was made from in a `// src/...` line; without them, every pipeline module counts.
  const bundle = readFileSync(BUILT_WORKER, "utf8");
  const named = [...bundle.matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((m) => m[1] as string);
  const inputs = named.length > 0 ? named : readdirSync(join(ROOT, "src", "pipeline")).map((name) => `src/pipeline/${name}`);
  const built = statSync(BUILT_WORKER).mtimeMs;
  const newer = inputs.filter((path) => !existsSync(join(ROOT, path)) || statSync(join(ROOT, path)).mtimeMs > built);
  if (newer.length > 0) throw new Error(`dist/worker.mjs is older than ${newer.join(", ")}: run \`npm run build:ts\``);
});

const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A saver that keeps every batch it is given. */
class RecordingSaver implements Saver {
  readonly batches: unknown[][] = [];
  readonly options: (SaveOptions | undefined)[] = [];
  constructor(private readonly delayMs = 0) {}
  async save(data: unknown, options?: SaveOptions): Promise<void> {
    if (this.delayMs > 0) await sleep(this.delayMs);
    this.batches.push([...(data as unknown[])]);
    this.options.push(options);
  }
  get sizes(): number[] {
    return this.batches.map((b) => b.length);
  }
  get flat(): unknown[] {
    return this.batches.flat();
  }
}

describe("TaskManager in this thread", () => {
  it("saves in item order when async tasks finish out of order", async () => {
    const finished: number[] = [];
    const tm = new TaskManager(
      () => ({
        async processItem(x: number) {
          await sleep(Math.random() * 4);
          finished.push(x);
          return x * 10;
        },
      }),
      { workers: 4 },
    );
    const saver = new RecordingSaver();
    const summary = await tm.submitTasks(range(200), { saver, saveInterval: 10, chunkSize: 3 });
    expect(finished).not.toEqual(range(200)); // they did finish out of order
    expect(saver.flat).toEqual(range(200).map((x) => x * 10));
    expect(saver.sizes).toEqual(Array(20).fill(10));
    expect(summary).toMatchObject({ items: 200, saved: 200, saves: 20 });
  });

  it("cuts exact batches of saveInterval and flushes the remainder once", async () => {
    const saver = new RecordingSaver();
    const tm = new TaskManager(() => ({ processItem: (x: number) => x + 1 }));
    await tm.submitTasks(range(250), { saver, saveInterval: 100, chunkSize: 30 });
    expect(saver.sizes).toEqual([100, 100, 50]);
    expect(saver.flat).toEqual(range(250).map((x) => x + 1));

    const even = new RecordingSaver();
    await tm.submitTasks(range(200), { saver: even, saveInterval: 100, chunkSize: 7 });
    expect(even.sizes).toEqual([100, 100]); // no empty final save

    const defaults = new RecordingSaver();
    await tm.submitTasks(range(230), { saver: defaults });
    expect(defaults.sizes).toEqual([100, 100, 30]);
  });

  it("runs a task class, saveInterval, a ZarrSaver read back by zarrita", async () => {
    class MyTask {
      processItem(x: number): number[] {
        return [x, x * 0.5];
      }
    }
    const dir = tempDir();
    const tm = new TaskManager(MyTask);
    await tm.submitTasks(range(1234), { saver: new ZarrSaver(dir, { datasetName: "rows" }), saveInterval: 100 });
    expect(await readValues(dir, "rows")).toEqual(range(1234).flatMap((x) => [x, x * 0.5]));
  });

  it("calls processItems with chunks of chunkSize when atOnce", async () => {
    const chunks: number[][] = [];
    const tm = new TaskManager(() => ({
      processItem: () => {
        throw new Error("not called");
      },
      async processItems(xs: number[]) {
        chunks.push(xs);
        return Float64Array.from(xs, (x) => x * 2); // any array-like of one result per item
      },
    }));
    await tm.submitTasks(range(100), { chunkSize: 40, atOnce: true });
    expect(chunks.map((c) => c.length)).toEqual([40, 40, 20]);
    expect(chunks[1]?.[0]).toBe(40);
    expect(tm.getResults()).toEqual(range(100).map((x) => x * 2));
  });

  it("takes async and sync iterables, pulled lazily", async () => {
    let pulled = 0;
    async function* items(): AsyncGenerator<number> {
      for (let i = 0; i < 150; i++) {
        if (i % 20 === 0) await sleep(1);
        pulled++;
        yield i;
      }
    }
    const progress: Progress[] = [];
    const saver = new RecordingSaver();
    const tm = new TaskManager(() => ({ processItem: (x: number) => -x }));
    await tm.submitTasks(items(), { saver, saveInterval: 64, chunkSize: 10, onProgress: (p) => progress.push({ ...p }) });
    expect(pulled).toBe(150);
    expect(saver.flat).toEqual(range(150).map((x) => -x));
    expect(saver.sizes).toEqual([64, 64, 22]);
    expect(progress.every((p) => !("total" in p))).toBe(true);
    expect(progress.at(-1)).toEqual({ done: 150, saved: 150 });

    function* sync(): Generator<number> {
      yield* range(5);
    }
    await tm.submitTasks(sync(), { chunkSize: 2 });
    expect(tm.getResults()).toEqual([-0, -1, -2, -3, -4]);
    await tm.submitTasks(new Set([7, 8]));
    expect(tm.getResults()).toEqual([-7, -8]);
  });

  it("collects results for getResults without a saver, and none with one", async () => {
    const tm = new TaskManager(() => ({ processItem: (s: string) => s.toUpperCase() }));
    const summary = await tm.submitTasks(["a", "b", "c"]);
    expect(tm.getResults()).toEqual(["A", "B", "C"]);
    expect(summary).toMatchObject({ items: 3, saved: 0, saves: 0 });
    await tm.submitTasks(["d"], { saver: new RecordingSaver() });
    expect(tm.getResults()).toEqual([]);
    await tm.submitTasks([]);
    expect(tm.getResults()).toEqual([]);
  });

  it("reports progress with the total of an array, the last call complete", async () => {
    const progress: Progress[] = [];
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    await tm.submitTasks(range(250), { saver: new RecordingSaver(), chunkSize: 50, onProgress: (p) => progress.push({ ...p }) });
    expect(progress.length).toBeGreaterThanOrEqual(5 + 3);
    expect(progress.every((p) => p.total === 250 && p.saved <= p.done)).toBe(true);
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b));
    expect(progress.at(-1)).toEqual({ done: 250, total: 250, saved: 250 });
  });

  it("keeps computing while a save runs, and stops dispatching when maxPendingSaves batches wait", async () => {
    let computed = 0;
    const gaps: number[] = [];
    let saved = 0;
    const saver: Saver = {
      async save(data) {
        await sleep(15);
        saved += (data as unknown[]).length;
        gaps.push(computed - saved); // items computed while this save ran, beyond it
      },
    };
    const tm = new TaskManager(() => ({
      processItem: (x: number) => {
        computed++;
        return x;
      },
    }));
    const summary = await tm.submitTasks(range(400), { saver, saveInterval: 20, chunkSize: 10, maxPendingSaves: 1 });
    expect(saved).toBe(400);
    // Computing went on during saves (a sequential loop would give 0), but never
    // further than one waiting batch, one partial batch and one unit in flight.
    expect(Math.max(...gaps)).toBeGreaterThan(0);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(20 + 19 + 10);
    expect(summary.stalledMs).toBeGreaterThan(0);
  });

  it("runs no further ahead of a slow item than four units per lane", async () => {
    let slowDone = false;
    const whileSlow: number[] = [];
    const tm = new TaskManager(
      () => ({
        async processItem(x: number) {
          if (x === 0) {
            await sleep(300);
            slowDone = true;
          } else if (!slowDone) whileSlow.push(x);
          return x;
        },
      }),
      { workers: 2 },
    );
    await tm.submitTasks(range(2_000), { chunkSize: 10 });
    expect(tm.getResults()).toEqual(range(2_000));
    // Results that finish early wait in memory for item 0: 2 lanes x 10 items x 4 of them at most.
    expect(whileSlow.length).toBeGreaterThan(0);
    expect(Math.max(...whileSlow)).toBeLessThan(2 * 10 * 4);
  });

  it("resumes from an iterable: the items the dataset holds are passed over, not computed", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, "resumed");
    // What an interrupted run left: the results of the first 250 items, saved in order.
    await saver.save(range(250).map((x) => x * 10));
    const computed: number[] = [];
    const tm = new TaskManager(() => ({
      processItem: (x: number) => {
        computed.push(x);
        return x * 10;
      },
    }));
    function* items(): Generator<number> {
      yield* range(1_000);
    }
    const summary = await tm.submitTasks(items(), { saver, resume: true, saveInterval: 100, chunkSize: 30 });
    expect(summary).toMatchObject({ skipped: 250, items: 750, saved: 750 });
    expect(Math.min(...computed)).toBe(250);
    expect(await readValues(dir, "resumed")).toEqual(range(1_000).map((x) => x * 10));
  });

  it("passes saveOptions to every save", async () => {
    const saver = new RecordingSaver();
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    await tm.submitTasks(range(3), { saver, saveInterval: 2, saveOptions: { chunks: [64] } });
    expect(saver.options).toEqual([{ chunks: [64] }, { chunks: [64] }]);
  });

  it("rejects with the item index and the very error a task threw", async () => {
    const cause = new Error("bad item");
    const tm = new TaskManager(() => ({
      processItem: (x: number) => {
        if (x === 13) throw cause;
        return x;
      },
    }));
    const err = await tm.submitTasks(range(50), { chunkSize: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toBeInstanceOf(ZarrSaverError);
    expect(err).toMatchObject({
      code: "ERR_ZARR_TASK_FAILED",
      stage: "task",
      index: 13,
      count: 1,
      item: 13,
      name: "TaskFailedError",
    });
    expect((err as Error).message).toBe("task failed on item 13: bad item");
    expect((err as Error).cause).toBe(cause);
  });

  it("rejects when processItems returns the wrong number of results, naming the chunk", async () => {
    const tm = new TaskManager(() => ({ processItems: (xs: number[]) => xs.slice(1) }));
    const err = await tm.submitTasks(range(10), { atOnce: true, chunkSize: 5 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "task", index: 0, count: 5 });
    expect((err as Error).message).toBe(
      "task failed on items 0..4 (processItems): TypeError: processItems returned 4 results for 5 items",
    );
  });

  it("reports a factory that throws or a task without the method as a load failure", async () => {
    const throwing = new TaskManager(() => {
      throw new Error("no GPU");
    });
    await expect(throwing.submitTasks([1])).rejects.toMatchObject({
      stage: "load",
      index: 0,
      message: "the task could not start (item 0): no GPU",
    });
    const noMethod = new TaskManager(() => ({ processItem: (x: number) => x }));
    await expect(noMethod.submitTasks([1, 2], { atOnce: true })).rejects.toThrow(/no processItems method/);
  });

  it("rejects with the batch's first index and the saver's error (a real ZarrSaver)", async () => {
    const dir = tempDir();
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    const err = await tm
      .submitTasks(range(30), { saver: new ZarrSaver(dir, "d", "update"), saveInterval: 10 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "save", index: 0, count: 10 });
    expect((err as Error).cause).toBeInstanceOf(IndicesRequiredError);
    expect((err as Error).message).toMatch(
      /^saving the results of items 0\.\.9 failed: IndicesRequiredError: approach 'update' needs indices/,
    );
  });

  it("rejects on the failing batch and saves nothing after it", async () => {
    const saved: number[] = [];
    const saver: Saver = {
      async save(data) {
        const batch = data as number[];
        if (batch[0] === 100) throw new Error("disk full");
        saved.push(...batch);
      },
    };
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    await expect(tm.submitTasks(range(1000), { saver, saveInterval: 100 })).rejects.toMatchObject({
      stage: "save",
      index: 100,
      count: 100,
    });
    expect(saved).toEqual(range(100));
  });

  it("starts no save after a failure: queued batches are dropped, the running one completes", async () => {
    const starts: number[] = [];
    const saver: Saver = {
      async save(data) {
        starts.push((data as number[])[0] as number);
        await sleep(30);
      },
    };
    const tm = new TaskManager(
      () => ({
        async processItem(x: number) {
          if (x === 60) throw new Error("boom");
          if (x > 60) await sleep(50); // still running when the first save ends
          return x;
        },
      }),
      { workers: 4 },
    );
    await expect(
      tm.submitTasks(range(100), { saver, saveInterval: 10, chunkSize: 5, maxPendingSaves: 10 }),
    ).rejects.toMatchObject({ index: 60 });
    await sleep(60);
    expect(starts).toEqual([0]);
  });

  it("rejects with the error of an items iterator that throws", async () => {
    const broken = new Error("source went away");
    async function* items(): AsyncGenerator<number> {
      yield* range(25);
      throw broken;
    }
    const tm = new TaskManager(fixture("square-task.mjs"), { workers: 2 });
    await expect(tm.submitTasks(items(), { chunkSize: 10 })).rejects.toBe(broken);
    expect(tm.activeWorkers).toBe(0);
  });

  it("knows the total of a typed array", async () => {
    const progress: Progress[] = [];
    const tm = new TaskManager(() => ({ processItem: (x: number) => x / 2 }));
    await tm.submitTasks(Float64Array.of(2, 4, 6), { onProgress: (p) => progress.push(p) });
    expect(tm.getResults()).toEqual([1, 2, 3]);
    expect(progress.at(-1)).toEqual({ done: 3, total: 3, saved: 0 });
  });

  it("fails the run when onProgress throws", async () => {
    const oops = new Error("progress display broke");
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    const onProgress = (p: Progress): void => {
      if (p.done >= 20) throw oops;
    };
    await expect(tm.submitTasks(range(50), { chunkSize: 10, onProgress })).rejects.toBe(oops);
  });

  it("refuses bad arguments with InvalidArgumentError", async () => {
    const tm = new TaskManager(() => ({ processItem: (x: number) => x }));
    await expect(tm.submitTasks(range(3), { save_interval: 10 } as never)).rejects.toThrow(
      /unknown option 'save_interval' \(did you mean saveInterval\?\)/,
    );
    await expect(tm.submitTasks(range(3), { saveInterval: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(tm.submitTasks(range(3), { chunkSize: 1.5 })).rejects.toThrow(/chunkSize must be a positive integer/);
    await expect(tm.submitTasks(range(3), { saver: {} as Saver })).rejects.toThrow(/saver must have a save/);
    await expect(tm.submitTasks(42 as never)).rejects.toThrow(/items must be an array, an iterable or an async iterable/);
    expect(() => new TaskManager(42 as never)).toThrow(InvalidArgumentError);
    expect(() => new TaskManager(() => ({}), { workers: 0 })).toThrow(/workers must be a positive integer/);
    expect(() => new TaskManager(fixture("missing.mjs"))).toThrow(/task module not found/);
    expect(() => new TaskManager("https://example.com/task.mjs")).toThrow(/file: or data: URL/);
  });

  it("refuses a second submitTasks while one runs", async () => {
    const tm = new TaskManager(() => ({
      async processItem(x: number) {
        await sleep(5);
        return x;
      },
    }));
    const first = tm.submitTasks(range(5));
    await expect(tm.submitTasks(range(5))).rejects.toThrow(/already running/);
    await first;
    expect(tm.getResults()).toEqual(range(5));
  });
});

describe("TaskManager in worker threads", () => {
  it("saves in item order from 2 threads into a ZarrSaver, read back by zarrita", async () => {
    const dir = tempDir();
    const tm = new TaskManager<number, number>(fixture("square-task.mjs"), { workers: 2 });
    expect(tm.moduleUrl).toBe(fixture("square-task.mjs").href);
    const summary = await tm.submitTasks(range(500), {
      saver: new ZarrSaver(dir, { datasetName: "squares" }),
      saveInterval: 25,
      chunkSize: 7,
    });
    expect(summary).toMatchObject({ items: 500, saved: 500, saves: 20 });
    expect(await readValues(dir, "squares")).toEqual(range(500).map((x) => x * x));
    expect(tm.activeWorkers).toBe(0);
  });

  it("spreads the work over the threads and keeps item order for getResults", async () => {
    const tm = new TaskManager<number, [number, number]>(fixture("threads-task.mjs"), { workers: 2 });
    await tm.submitTasks(range(200), { chunkSize: 10 });
    const results = tm.getResults();
    expect(results.map(([x]) => x)).toEqual(range(200));
    expect(new Set(results.map(([, thread]) => thread)).size).toBe(2);
  });

  it("calls processItems in the threads when atOnce, and accepts a path", async () => {
    const saver = new RecordingSaver();
    const path = decodeURIComponent(fixture("square-task.mjs").pathname);
    const tm = new TaskManager(path, { workers: 3 });
    await tm.submitTasks(range(250), { saver, atOnce: true, chunkSize: 16, saveInterval: 100 });
    expect(saver.sizes).toEqual([100, 100, 50]);
    expect(saver.flat).toEqual(range(250).map((x) => x * x));
  });

  it("rejects with the item index and the cause, terminates busy threads, and runs again", async () => {
    const tm = new TaskManager(fixture("failing-task.mjs"), { workers: 2 });
    const began = performance.now();
    const err = await tm.submitTasks(range(100), { chunkSize: 1 }).catch((e: unknown) => e);
    // Items above 40 spin for 30 s each: settling sooner means their threads were terminated.
    expect(performance.now() - began).toBeLessThan(10_000);
    expect(tm.activeWorkers).toBe(0);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ stage: "task", index: 37, count: 1, item: 37 });
    expect((err as Error).message).toBe("task failed on item 37: RangeError: item 37 is cursed");
    const cause = (err as Error).cause as RangeError & { code: string };
    expect(cause).toBeInstanceOf(RangeError);
    expect(cause.code).toBe("E_CURSED");
    expect(cause.stack).toContain("failing-task.mjs");

    await tm.submitTasks(range(30), { chunkSize: 4 });
    expect(tm.getResults()).toEqual(range(30));
    expect(tm.activeWorkers).toBe(0);
  });

  it("rejects when a task kills its thread, and on a saver failure stops the threads", async () => {
    const tm = new TaskManager(fixture("exiting-task.mjs"), { workers: 2 });
    const err = await tm.submitTasks(range(20), { chunkSize: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "task", index: 5 });
    expect(((err as Error).cause as Error).message).toBe("worker thread exited with code 3");
    expect(tm.activeWorkers).toBe(0);

    const square = new TaskManager(fixture("square-task.mjs"), { workers: 2 });
    const failing: Saver = {
      save: async () => {
        throw new Error("no space");
      },
    };
    await expect(square.submitTasks(range(100), { saver: failing, saveInterval: 10 })).rejects.toMatchObject({
      stage: "save",
      index: 0,
    });
    expect(square.activeWorkers).toBe(0);
  });

  it("reports a module without processItem as a load failure", async () => {
    const tm = new TaskManager(fixture("no-method-task.mjs"), { workers: 1 });
    const err = await tm.submitTasks([1, 2, 3]).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "load", index: 0, count: 3 });
    expect((err as Error).message).toMatch(/no processItem method/);
    expect(tm.activeWorkers).toBe(0);
  });

  it("reports a module without a default export as a load failure", async () => {
    const tm = new TaskManager("data:text/javascript,export const processItem = (x) => x;", { workers: 1 });
    const err = await tm.submitTasks([1, 2]).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "load", index: 0, count: 2 });
    expect((err as Error).message).toMatch(/has no default export/);
    expect(tm.activeWorkers).toBe(0);
  });

  it("revives an error class of the task's own with its name, message and code", async () => {
    const source = `class QuotaError extends Error { name = "QuotaError"; code = 429; }
      export default class { processItem(x) { if (x === 2) throw new QuotaError("slow down"); return x; } }`;
    const tm = new TaskManager(`data:text/javascript,${encodeURIComponent(source)}`, { workers: 1 });
    const err = await tm.submitTasks(range(5), { chunkSize: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "task", index: 2, count: 1, item: 2 });
    expect((err as Error).message).toBe("task failed on item 2: QuotaError: slow down");
    expect((err as Error).cause).toMatchObject({ name: "QuotaError", message: "slow down", code: 429 });
  });

  it("runs a task module given as a data: URL", async () => {
    const tm = new TaskManager("data:text/javascript,export default class { processItem(x) { return x + 1; } }", { workers: 1 });
    await tm.submitTasks([1, 2, 3]);
    expect(tm.getResults()).toEqual([2, 3, 4]);
  });

  it("names the item that can't be sent to a thread", async () => {
    const tm = new TaskManager(fixture("square-task.mjs"), { workers: 1 });
    const err = await tm.submitTasks([1, 2, () => 3], { chunkSize: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stage: "task", index: 2 });
    expect(((err as Error).cause as Error).name).toBe("DataCloneError");
  });
});

describe("TaskManager from the built package", () => {
  // A consumer script, run by a separate node in a temp directory: square-task over
  // 100 items in 2 threads, then failing-task, whose RangeError must come back whole.
  const consumer = (load: string): string => `${load}
async function main() {
  const square = new TaskManager(process.argv[2], { workers: 2 });
  await square.submitTasks(Array.from({ length: 100 }, (_, i) => i), { chunkSize: 7 });
  const failing = new TaskManager(process.argv[3], { workers: 2 });
  const err = await failing.submitTasks(Array.from({ length: 40 }, (_, i) => i), { chunkSize: 1 }).catch((e) => e);
  const { cause } = err;
  console.log(JSON.stringify({
    results: square.getResults(),
    activeWorkers: [square.activeWorkers, failing.activeWorkers],
    error: [err.constructor.name, err.index, err.message],
    cause: [cause.constructor.name, cause.code, cause.stack.includes("failing-task.mjs")],
  }));
}
main();
`;

  function runConsumer(file: string, load: string): unknown {
    const dir = tempDir();
    writeFileSync(join(dir, file), consumer(load));
    const tasks = [fixture("square-task.mjs").href, fixture("failing-task.mjs").href];
    return JSON.parse(execFileSync(process.execPath, [file, ...tasks], { cwd: dir, encoding: "utf8" }));
  }

  const expected = {
    results: range(100).map((x) => x * x),
    activeWorkers: [0, 0],
    error: ["TaskFailedError", 37, "task failed on item 37: RangeError: item 37 is cursed"],
    cause: ["RangeError", "E_CURSED", true],
  };

  it("starts its worker from the CommonJS build (require)", () => {
    const load = `const { TaskManager } = require(${JSON.stringify(join(ROOT, "dist", "index.cjs"))});`;
    expect(runConsumer("consumer.cjs", load)).toEqual(expected);
  });

  it("starts its worker from the ESM build (import)", () => {
    const load = `import { TaskManager } from ${JSON.stringify(pathToFileURL(join(ROOT, "dist", "index.js")).href)};`;
    expect(runConsumer("consumer.mjs", load)).toEqual(expected);
  });
});

describe("progress bar", () => {
  it("renders counts, rate and ETA within the terminal width", () => {
    const line = renderBar({ done: 500, total: 1000, saved: 400 }, 1000, 120);
    expect(line).toBe("[###############---------------]  50% 500/1,000 items, 400 saved, 500 items/s, ETA 1s");
    expect(renderBar({ done: 42, saved: 0 }, 2000, 120)).toBe("42 items, 0 saved, 21 items/s");
    expect(renderBar({ done: 1, total: 10, saved: 0 }, 10, 40).length).toBeLessThan(40);
  });

  it("redraws in place and ends with a newline; the callback sees every report", () => {
    const writes: string[] = [];
    const seen: Progress[] = [];
    const reporter = new ProgressReporter({
      total: 3,
      onProgress: (p) => seen.push(p),
      bar: { write: (t: string) => writes.push(t), columns: 100 },
    });
    reporter.report(1, 0);
    reporter.report(2, 0); // within 100 ms: no redraw
    reporter.report(3, 3);
    reporter.end();
    expect(seen).toEqual([
      { done: 1, total: 3, saved: 0 },
      { done: 2, total: 3, saved: 0 },
      { done: 3, total: 3, saved: 3 },
    ]);
    expect(writes.length).toBe(3);
    expect(writes[0]?.startsWith("\r")).toBe(true);
    expect(writes[1]).toContain("3/3 items, 3 saved");
    expect(writes[2]).toBe("\n");
  });
});
