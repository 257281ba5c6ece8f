/**
 * TaskManager past one machine: a real redis-server on a free port of 127.0.0.1,
 * real worker processes started with the package's bin (dist/cli.mjs, built by
 * `npm run build:ts`), and the submitter in this process.
 *
 * - 3 workers, 50,000 items of a CPU-bound task, one worker SIGKILLed mid-run and
 *   another started: the dataset equals an in-process run's, file for file; the
 *   same on the S3 server (moto) with workers holding the credentials themselves;
 * - a failing item: TaskFailedError naming it, no job left in Redis, workers serve
 *   the next run (to another saver, in item order); a saver slower than the workers
 *   pauses dispatch as in process; `attempts` retries a task; an aborted run removes
 *   its jobs; options refused with the field named; startWorker;
 * - async iterables of unknown length, in place and returned;
 * - resume after an in-process run was stopped, and after a submitter was killed;
 * - SIGTERM of an idle and of a busy worker: exit 0, the run completes;
 * - the Redis server stopped mid-run: QueueUnavailableError, not a hang.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  InvalidArgumentError,
  QueueUnavailableError,
  type Saver,
  startWorker,
  TaskFailedError,
  TaskManager,
  ZarrSaver,
} from "../src/index.js";
import { MOTO_KEY, MOTO_REGION, MOTO_SECRET, running, useMoto } from "./helpers/moto.js";
import { runPython } from "./helpers/python.js";
import { CLI, type RedisServer, startRedis, startWorkerProcess, type WorkerProcess } from "./helpers/redis.js";
import { settleFiles, tempDir } from "./helpers/tmp.js";

// The in-process reference runs its threads on the built worker, as pipeline.test.ts does.
vi.mock("../src/pipeline/worker-entry.js", () => ({ WORKER_URL: new URL("../dist/worker.mjs", import.meta.url) }));

const ROOT = join(import.meta.dirname, "..");
const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const CPU_TASK = fixture("cpu-task.mjs");
const SLOW_TASK = fixture("slow-task.mjs");
/** Short locks, so that a killed worker's job is retried within seconds. */
const LOCK = ["--lock-duration", "2000"];
const SAVE_OPTIONS = { chunks: [1000, 2] };

beforeAll(() => {
  for (const built of ["cli.mjs", "worker.mjs"]) {
    const path = join(ROOT, "dist", built);
    if (!existsSync(path)) throw new Error(`dist/${built} is missing: run \`npm run build:ts\` first`);
  }
  // A bin older than the pipeline's sources would test yesterday's worker.
  const built = statSync(CLI).mtimeMs;
  const newer = readdirSync(join(ROOT, "src", "pipeline")).filter(
    (f) => statSync(join(ROOT, "src", "pipeline", f)).mtimeMs > built,
  );
  if (newer.length > 0) throw new Error(`dist/cli.mjs is older than src/pipeline/${newer.join(", ")}: run \`npm run build:ts\``);
});

let redis: RedisServer;
const workers: WorkerProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const w of workers) w.process.kill("SIGKILL");
  await redis?.stop();
});

async function worker(queue: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const w = await startWorkerProcess(redis.url, queue, [...LOCK, ...extra], env);
  workers.push(w);
  return w;
}

/** Dataset files (chunks and metadata; not the writers' hidden lock and temp files), by path. */
function datasetFiles(root: string): Record<string, string> {
  settleFiles();
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[path.slice(root.length + 1)] = readFileSync(path).toString("base64");
    }
  };
  walk(root);
  return out;
}

/** What an in-process run with 2 threads writes for `items` (the reference). */
async function inProcess(items: number[] | (() => AsyncIterable<number>)): Promise<Record<string, string>> {
  const dir = join(tempDir(), "ref.zarr");
  const tm = new TaskManager(CPU_TASK, { workers: 2 });
  await tm.submitTasks(typeof items === "function" ? items() : items, {
    saver: new ZarrSaver(dir),
    saveOptions: SAVE_OPTIONS,
    progressBar: false,
  });
  return datasetFiles(dir);
}

/** Jobs of `queue` in any state. */
async function jobsLeft(queue: string): Promise<number> {
  const q = new Queue(queue, { connection: { host: "127.0.0.1", port: redis.port } });
  try {
    const counts = await q.getJobCounts();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await q.close();
  }
}

describe("results written in place", () => {
  const N = 50_000;
  let reference: Record<string, string>;
  beforeAll(async () => {
    reference = await inProcess(range(N));
  });

  it("3 workers, one SIGKILLed mid-run and another started: the dataset equals an in-process run's", async () => {
    const queue = "cpu-local";
    const [, victim] = [
      await worker(queue, ["--concurrency", "1"]),
      await worker(queue, ["--concurrency", "1"]),
      await worker(queue, ["--concurrency", "1"]),
    ];
    const dir = join(tempDir(), "dist.zarr");
    let killed = false;
    let replacement: Promise<WorkerProcess> | undefined;
    const tm = new TaskManager(CPU_TASK, { queue: { connection: redis.url, name: queue } });
    const seen: number[] = [];
    const summary = await tm.submitTasks(range(N), {
      saver: new ZarrSaver(dir),
      saveOptions: SAVE_OPTIONS,
      progressBar: false,
      onProgress: ({ done, total, saved }) => {
        seen.push(done);
        expect(total).toBe(N);
        expect(saved).toBeLessThanOrEqual(done);
        if (!killed && done >= N / 3) {
          killed = true;
          victim?.process.kill("SIGKILL");
          replacement = worker(queue, ["--concurrency", "1"]);
        }
      },
    });
    expect(killed).toBe(true);
    expect(await victim?.exited).toBe("SIGKILL");
    await replacement;
    expect(summary).toMatchObject({ items: N, saved: N, skipped: 0 });
    expect(seen.at(-1)).toBe(N);
    expect(datasetFiles(dir)).toEqual(reference);
    expect(await jobsLeft(queue)).toBe(0);
  });

  describe("on the S3 server", () => {
    const BUCKET = "queue-bucket";
    const moto = useMoto({ buckets: [BUCKET] });

    /** Every object under `prefix` (hidden names left out), by key relative to it, read with boto3. */
    function objects(prefix: string): Record<string, string> {
      const all = runPython<Record<string, string>>(
        `
import base64, json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="${MOTO_KEY}", aws_secret_access_key="${MOTO_SECRET}", region_name="${MOTO_REGION}")
out = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2], Prefix=sys.argv[3] + "/"):
    for o in page.get("Contents", []):
        out[o["Key"]] = base64.b64encode(s3.get_object(Bucket=sys.argv[2], Key=o["Key"])["Body"].read()).decode()
print(json.dumps(out))
`,
        [moto().endpoint, BUCKET, prefix],
      );
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(all)) {
        const rel = key.slice(prefix.length + 1);
        if (!rel.split("/").some((part) => part.startsWith("."))) out[rel] = value;
      }
      return out;
    }

    it("3 workers with their own credentials, one SIGKILLed: the objects equal an in-process run's files", async () => {
      const queue = "cpu-s3";
      // Workers hold the credentials; the job carries only the endpoint and region.
      const env = { ...process.env, AWS_ACCESS_KEY_ID: MOTO_KEY, AWS_SECRET_ACCESS_KEY: MOTO_SECRET };
      const started = [];
      for (let i = 0; i < 3; i++) started.push(await worker(queue, ["--concurrency", "1"], env));
      const victim = started[1] as WorkerProcess;
      const storageOptions = {
        endpoint: moto().endpoint,
        region: MOTO_REGION,
        allowHttp: true,
        accessKeyId: MOTO_KEY,
        secretAccessKey: MOTO_SECRET,
      };
      let killed = false;
      const tm = new TaskManager(CPU_TASK, { queue: { connection: redis.url, name: queue } });
      const summary = await tm.submitTasks(range(N), {
        saver: new ZarrSaver(`s3://${BUCKET}/dist.zarr`, { storageOptions }),
        saveOptions: SAVE_OPTIONS,
        progressBar: false,
        onProgress: ({ done }) => {
          if (!killed && done >= N / 3) {
            killed = true;
            victim.process.kill("SIGKILL");
            void worker(queue, ["--concurrency", "1"], env);
          }
        },
      });
      expect(killed).toBe(true);
      expect(summary).toMatchObject({ items: N, saved: N });
      const stored = objects("dist.zarr");
      expect(Object.keys(stored).sort()).toEqual(Object.keys(reference).sort());
      expect(stored).toEqual(reference);
      expect(await jobsLeft(queue)).toBe(0);
    });
  });

  it("async iterables of unknown length: rows reserved job by job, and results returned in order", async () => {
    const queue = "iterables";
    await worker(queue, ["--concurrency", "2"]);
    const n = 3_333;
    async function* items(): AsyncGenerator<number> {
      for (let i = 0; i < n; i++) {
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 1));
        yield i;
      }
    }
    const dir = join(tempDir(), "iter.zarr");
    const tm = new TaskManager(CPU_TASK, { queue: { connection: redis.url, name: queue } });
    const totals = new Set<number | undefined>();
    const summary = await tm.submitTasks(items(), {
      saver: new ZarrSaver(dir),
      saveOptions: SAVE_OPTIONS,
      progressBar: false,
      onProgress: ({ total }) => totals.add(total),
    });
    expect(summary).toMatchObject({ items: n, saved: n });
    expect([...totals]).toEqual([undefined]);
    expect(datasetFiles(dir)).toEqual(await inProcess(items));

    await tm.submitTasks(items(), { progressBar: false, chunkSize: 250 });
    const results = tm.getResults() as number[][];
    expect(results).toHaveLength(n);
    expect(results.map((r) => r[0])).toEqual(range(n));
    expect(await jobsLeft(queue)).toBe(0);
  });
});

describe("options and the startWorker function", () => {
  it("refuses what a queue run can't do, naming the field", async () => {
    const queue = { connection: "redis://127.0.0.1:6379", name: "q" };
    expect(() => new TaskManager(() => ({ processItem: (x: number) => x }), { queue })).toThrow(InvalidArgumentError);
    expect(() => new TaskManager(CPU_TASK, { queue: { ...queue, name: "a:b" } })).toThrow(/queue\.name/);
    expect(() => new TaskManager(CPU_TASK, { queue: { ...queue, connection: "http://x" } })).toThrow(/queue\.connection/);
    expect(() => new TaskManager(CPU_TASK, { queue: { ...queue, attempts: 0 } })).toThrow(/queue\.attempts/);
    const tm = new TaskManager(CPU_TASK, { queue });
    const other: Saver = { save: async () => undefined };
    await expect(tm.submitTasks([1], { saver: other, resume: true })).rejects.toThrow(/resume needs a ZarrSaver/);
    expect(() => startWorker({ connection: redis.url, name: "q", bogus: 1 } as never)).toThrow(/unknown option 'bogus'/);
    const nowhere = startWorker({ connection: "redis://127.0.0.1:1", name: "q", timeout: 500 });
    await expect(nowhere.ready).rejects.toBeInstanceOf(QueueUnavailableError);
    await nowhere.close();
  });

  it("startWorker in this process serves a run, and close() stops it", async () => {
    const w = startWorker({ connection: redis.url, name: "api", concurrency: 2, lockDuration: 2_000 });
    try {
      await w.ready;
      const tm = new TaskManager(SLOW_TASK, { queue: { connection: redis.url, name: "api" } });
      const summary = await tm.submitTasks(range(300), { progressBar: false });
      expect(summary).toMatchObject({ items: 300, saved: 0, skipped: 0 });
      expect(tm.getResults()).toEqual(range(300).map((x) => x * 2));
    } finally {
      await w.close();
    }
  });
});

describe("failures", () => {
  it("a failing item: TaskFailedError naming it, no job left in Redis, the workers serve the next run (to a saver, in order)", async () => {
    const queue = "failing";
    await worker(queue, ["--concurrency", "2"]);
    await worker(queue, ["--concurrency", "2"]);
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: redis.url, name: queue } });
    const err = await tm.submitTasks(range(3_000), { progressBar: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ stage: "task", index: 777, count: 1, item: 777, code: "ERR_ZARR_TASK_FAILED" });
    const cause = (err as TaskFailedError).cause as Error & { code?: string };
    expect(cause).toBeInstanceOf(RangeError);
    expect(cause.message).toBe("item 777 is cursed");
    expect(cause.code).toBe("E_CURSED");
    expect((err as Error).message).toContain("item 777");
    expect(await jobsLeft(queue)).toBe(0);

    // Another saver than a ZarrSaver: results come back and reach it in item order, saveInterval at a time.
    const batches: number[][] = [];
    const saver: Saver = {
      save: async (data) => {
        batches.push([...(data as number[])]);
      },
    };
    const summary = await tm.submitTasks(range(500), { progressBar: false, saver, saveInterval: 70 });
    expect(summary).toMatchObject({ items: 500, saved: 500, saves: 8 });
    expect(batches.map((b) => b.length)).toEqual([70, 70, 70, 70, 70, 70, 70, 10]);
    expect(batches.flat()).toEqual(range(500).map((x) => x * 2));
  });

  it("a saver slower than the workers: dispatch pauses while maxPendingSaves batches wait, as in process", async () => {
    const queue = "backpressure";
    await worker(queue, ["--concurrency", "2"]);
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: redis.url, name: queue, outstanding: 1 } });
    let ahead = 0;
    const saver: Saver = {
      save: () => new Promise((resolve) => setTimeout(resolve, 150)),
    };
    const summary = await tm.submitTasks(range(400), {
      saver,
      saveInterval: 20,
      chunkSize: 10,
      maxPendingSaves: 1,
      progressBar: false,
      onProgress: ({ done, saved }) => {
        ahead = Math.max(ahead, done - saved);
      },
    });
    expect(summary).toMatchObject({ items: 400, saved: 400, saves: 20 });
    expect(summary.stalledMs).toBeGreaterThan(0);
    // Results held here: the running save, one waiting batch, one partial batch and the job in flight.
    expect(ahead).toBeLessThanOrEqual(20 + 20 + 19 + 10);
    expect(await jobsLeft(queue)).toBe(0);
  });

  it("attempts: a task that throws once is retried, and the run completes", async () => {
    const queue = "flaky";
    await worker(queue, ["--concurrency", "1"]);
    const dir = tempDir();
    const items = range(50).map((x) => ({ dir, x }));
    const once = new TaskManager(fixture("flaky-task.mjs"), { queue: { connection: redis.url, name: queue, attempts: 2 } });
    await once.submitTasks(items, { progressBar: false, chunkSize: 10 });
    expect(once.getResults()).toEqual(range(50).map((x) => x + 1));
    expect(existsSync(join(dir, "failed-5"))).toBe(true);
    expect(await jobsLeft(queue)).toBe(0);
  });

  it("an aborted run rejects with the signal's reason and removes its jobs", async () => {
    const queue = "aborted";
    await worker(queue, ["--concurrency", "1"]);
    const controller = new AbortController();
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: redis.url, name: queue } });
    const err = await tm
      .submitTasks(range(700), {
        progressBar: false,
        signal: controller.signal,
        onProgress: ({ done }) => {
          if (done >= 200) controller.abort();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ name: "AbortError" });
    expect(await jobsLeft(queue)).toBe(0);
  });

  it("SIGTERM: an idle worker exits 0; a busy one finishes its job and exits 0, and the run completes", async () => {
    const idle = await worker("idle");
    idle.process.kill("SIGTERM");
    expect(await idle.exited).toBe(0);

    const queue = "busy";
    const a = await worker(queue, ["--concurrency", "1"]);
    await worker(queue, ["--concurrency", "1"]);
    let stopped = false;
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: redis.url, name: queue } });
    const summary = await tm.submitTasks(range(700), {
      progressBar: false,
      onProgress: ({ done }) => {
        if (!stopped && done >= 200) {
          stopped = true;
          a.process.kill("SIGTERM");
        }
      },
    });
    expect(stopped).toBe(true);
    expect(await a.exited).toBe(0);
    expect(summary.items).toBe(700);
    expect(tm.getResults()).toEqual(range(700).map((x) => x * 2));
  });
});

describe("resume", () => {
  const N = 12_000;
  let reference: Record<string, string>;
  beforeAll(async () => {
    reference = await inProcess(range(N));
  });

  it("in process: a stopped run resumed skips the rows already saved", async () => {
    const dir = join(tempDir(), "resume-local.zarr");
    const controller = new AbortController();
    const tm = new TaskManager(CPU_TASK, { workers: 2 });
    const opts = { saver: new ZarrSaver(dir), saveOptions: SAVE_OPTIONS, progressBar: false };
    await expect(
      tm.submitTasks(range(N), {
        ...opts,
        signal: controller.signal,
        onProgress: ({ saved }) => {
          if (saved >= N / 3) controller.abort();
        },
      }),
    ).rejects.toMatchObject({ name: "AbortError" });
    const summary = await tm.submitTasks(range(N), { ...opts, resume: true });
    expect(summary.skipped).toBeGreaterThan(0);
    expect(summary.skipped + summary.items).toBe(N);
    expect(datasetFiles(dir)).toEqual(reference);
  });

  it("on a queue: a submitter SIGKILLed mid-run, then a rerun with resume, equals an in-process run", async () => {
    const queue = "resume";
    await worker(queue, ["--concurrency", "1"]);
    await worker(queue, ["--concurrency", "1"]);
    const dir = join(tempDir(), "resume-dist.zarr");
    const child: ChildProcess = spawn(
      process.execPath,
      [join(import.meta.dirname, "fixtures", "queue-submitter.mjs"), redis.url, queue, dir, String(N)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    running.add(child);
    const killedAt = await new Promise<number>((resolve, reject) => {
      let buffer = "";
      child.stdout?.on("data", (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines) {
          if (line === "finished") reject(new Error("the submitter finished before it was killed"));
          const { done } = JSON.parse(line) as { done: number };
          if (done >= N / 3) {
            child.kill("SIGKILL");
            resolve(done);
          }
        }
      });
      child.once("exit", (code) => reject(new Error(`submitter exited (${code}) before it was killed`)));
    });
    expect(killedAt).toBeLessThan(N);
    const tm = new TaskManager(CPU_TASK, { queue: { connection: redis.url, name: queue } });
    const summary = await tm.submitTasks(range(N), {
      saver: new ZarrSaver(dir),
      saveOptions: SAVE_OPTIONS,
      progressBar: false,
      resume: true,
    });
    expect(summary.skipped).toBeGreaterThan(0);
    expect(summary.skipped + summary.items).toBe(N);
    expect(datasetFiles(dir)).toEqual(reference);
  });
});

describe("the Redis server stopped mid-run", () => {
  it("rejects with QueueUnavailableError instead of waiting", async () => {
    const own = await startRedis();
    const w = await startWorkerProcess(own.url, "lost", ["--concurrency", "1", ...LOCK]);
    workers.push(w);
    let stopped: Promise<void> | undefined;
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: own.url, name: "lost", timeout: 2_000 } });
    const err = await tm
      .submitTasks(range(700), {
        progressBar: false,
        onProgress: ({ done }) => {
          if (stopped === undefined && done >= 100) stopped = own.stop();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    await stopped;
    expect(err).toBeInstanceOf(QueueUnavailableError);
    expect(err).toMatchObject({ code: "ERR_ZARR_QUEUE_UNAVAILABLE" });
    w.process.kill("SIGKILL");
  });

  it("a server that is not there: QueueUnavailableError", async () => {
    const tm = new TaskManager(SLOW_TASK, { queue: { connection: "redis://127.0.0.1:1", name: "nowhere", timeout: 1_000 } });
    await expect(tm.submitTasks(range(10), { progressBar: false })).rejects.toBeInstanceOf(QueueUnavailableError);
  });
});
