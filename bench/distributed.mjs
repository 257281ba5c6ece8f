#!/usr/bin/env node
/**
 * W7, TaskManager past one machine: a redis-server started here on a free port of
 * 127.0.0.1 (no persistence), queue workers started with the package's bin
 * (`zarr-saver worker --concurrency 1`, one process each), the submitter in this
 * process, results written in place into a local ZarrSaver dataset.
 *
 *   node bench/distributed.mjs          writes bench/results/distributed.json
 *   node bench/distributed.mjs --quick  small sizes; writes bench/results/tmp/quick-distributed.json
 *   options: --items N (CPU-bound items)  --large N (large-result items)
 *
 * 1. CPU-bound (bench/distributed-task.mjs, about 1 ms per item, 4 float64 per item,
 *    chunks of 250 rows, so jobs of 250 items): items/s with 1, 2 and 4 worker
 *    processes, against the in-process TaskManager with 2 worker threads; and the
 *    submitter's CPU share (its user + system CPU time over the wall time of the run),
 *    and the CPU time per item of every process involved (worker processes from
 *    /proc, threads included), which the machine's other load does not inflate.
 * 2. Large results (bench/distributed-large-task.mjs, 64 KiB per item, 2 workers,
 *    chunks of 16 rows): the submitter's peak RSS (sampled every 50 ms) and Redis'
 *    `used_memory_peak`, which stay flat because results never pass through them.
 *
 * Items/s is the item count over the wall time of submitTasks, as a user sees it;
 * workers are started (and connected) before the clock starts. Each dataset is
 * checked: its shape, and its first and last rows against the task's own results.
 *
 * Exit status: 0 unless a run failed or a dataset read back wrong.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import FileSystemStore from "@zarrita/storage/fs";
import { TaskManager, ZarrSaver } from "zarr-saver";
import * as zarr from "zarrita";
import { printUsage, runMain } from "./lib/cli.mjs";
import { machine, versions } from "./lib/machine.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const CLI = join(BENCH, "..", "dist", "cli.mjs");

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    items: { type: "string" },
    large: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) printUsage(import.meta.url);

const log = (msg) => process.stderr.write(`distributed: ${msg}\n`);
const quick = args.quick;
const CPU_ITEMS = Number(args.items ?? (quick ? 1_000 : 10_000));
const LARGE_ITEMS = Number(args.large ?? (quick ? 1_000 : 20_000));
const PROCESSES = quick ? [1, 2] : [1, 2, 4];
const CPU_TASK = new URL("./distributed-task.mjs", import.meta.url);
const LARGE_TASK = new URL("./distributed-large-task.mjs", import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const cli = (...a) => execFileSync("redis-cli", ["-p", String(port), ...a], { encoding: "utf8" });
  for (let i = 0; ; i++) {
    try {
      if (cli("ping").trim() === "PONG") break;
    } catch {
      if (i > 200) throw new Error("redis-server did not start");
    }
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, cli, child };
}

/** `n` worker processes on `queue`, each serving one job at a time; resolves once all serve. */
async function startWorkers(url, queue, n) {
  return Promise.all(
    Array.from({ length: n }, () => {
      const child = spawn(process.execPath, [CLI, "worker", "--connection", url, "--queue", queue, "--concurrency", "1"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      return new Promise((resolve, reject) => {
        let text = "";
        child.stderr.on("data", (d) => {
          text += d;
          if (text.includes("serving queue")) resolve(child);
        });
        child.once("exit", (code) => reject(new Error(`worker exited (${code}): ${text}`)));
      });
    }),
  );
}

async function stopWorkers(workers) {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          w.removeAllListeners("exit");
          w.once("exit", resolve);
          w.kill("SIGTERM");
        }),
    ),
  );
}

/** Shape of the dataset, and whether its first and last rows are the task's own. */
async function check(dir, Task, n) {
  const store = new FileSystemStore(dir);
  const arr = await zarr.open(zarr.root(store).resolve("dataset"), { kind: "array" });
  const task = new Task();
  const same = async (i) => {
    const got = await zarr.get(arr, [zarr.slice(i, i + 1), null]);
    const want = task.processItem(i);
    return got.data.every((v, k) => Object.is(v, want[k]));
  };
  return arr.shape[0] === n && (await same(0)) && (await same(n - 1));
}

/** User + system CPU seconds of process `pid` so far, threads included (Linux /proc; clock ticks of 1/100 s). */
function processCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function cpuSeconds(usage) {
  return (usage.user + usage.system) / 1e6;
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), "zarr-saver-w7-"));
  const redis = await startRedis();
  const cpuItems = Array.from({ length: CPU_ITEMS }, (_, i) => i);
  const failures = [];
  const result = { workload: "W7 TaskManager on a queue", machine: machine(), versions: versions(), cpu: [], large: {} };
  try {
    // Large results first, while this process holds nothing else: 64 KiB each, written in place by 2 workers.
    {
      const queue = "w7-large";
      const workers = await startWorkers(redis.url, queue, 2);
      const before = Number(/used_memory_peak:(\d+)/.exec(redis.cli("info", "memory"))?.[1]);
      const dir = join(root, "large.zarr");
      let peakRss = process.memoryUsage().rss;
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 50);
      const tm = new TaskManager(LARGE_TASK, { queue: { connection: redis.url, name: queue } });
      const t = performance.now();
      await tm.submitTasks(
        Array.from({ length: LARGE_ITEMS }, (_, i) => i),
        { saver: new ZarrSaver(dir), saveOptions: { chunks: [16, 8192] }, progressBar: false },
      );
      const wall = (performance.now() - t) / 1000;
      clearInterval(sampler);
      const redisPeak = Number(/used_memory_peak:(\d+)/.exec(redis.cli("info", "memory"))?.[1]);
      await stopWorkers(workers);
      const ok = await check(dir, (await import(LARGE_TASK)).default, LARGE_ITEMS);
      if (!ok) failures.push("large results: dataset read back wrong");
      result.large = {
        items: LARGE_ITEMS,
        resultBytes: 65_536,
        totalMiB: (LARGE_ITEMS * 65_536) / 2 ** 20,
        wallS: wall,
        submitterPeakRssMiB: peakRss / 2 ** 20,
        redisUsedMemoryPeakMiB: redisPeak / 2 ** 20,
        redisUsedMemoryPeakBeforeMiB: before / 2 ** 20,
        ok,
      };
      log(
        `large: ${LARGE_ITEMS} x 64 KiB in ${wall.toFixed(1)} s; submitter peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, ` +
          `Redis used_memory_peak ${(redisPeak / 2 ** 20).toFixed(1)} MiB`,
      );
    }
    // The in-process reference: 2 worker threads, results saved in item order by this process.
    {
      const dir = join(root, "inproc.zarr");
      const tm = new TaskManager(CPU_TASK, { workers: 2 });
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      await tm.submitTasks(cpuItems, { saver: new ZarrSaver(dir), saveOptions: { chunks: [250, 4] }, progressBar: false });
      const wall = (performance.now() - t) / 1000;
      const cpu = cpuSeconds(process.cpuUsage(cpu0));
      const ok = await check(dir, (await import(CPU_TASK)).default, CPU_ITEMS);
      if (!ok) failures.push("in-process dataset read back wrong");
      result.cpu.push({
        runner: "in-process, 2 threads",
        itemsPerS: CPU_ITEMS / wall,
        wallS: wall,
        submitterCpuShare: null,
        cpuMsPerItem: (cpu * 1000) / CPU_ITEMS,
        ok,
      });
      log(
        `in-process 2 threads: ${(CPU_ITEMS / wall).toFixed(0)} items/s (${cpuSeconds(process.cpuUsage(cpu0)).toFixed(1)} s CPU here, threads included)`,
      );
    }
    for (const n of PROCESSES) {
      const queue = `w7-cpu-${n}`;
      const workers = await startWorkers(redis.url, queue, n);
      const dir = join(root, `queue-${n}.zarr`);
      const tm = new TaskManager(CPU_TASK, { queue: { connection: redis.url, name: queue } });
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      await tm.submitTasks(cpuItems, { saver: new ZarrSaver(dir), saveOptions: { chunks: [250, 4] }, progressBar: false });
      const wall = (performance.now() - t) / 1000;
      const share = cpuSeconds(process.cpuUsage(cpu0)) / wall;
      const workerCpu = workers.reduce((sum, w) => sum + processCpuSeconds(w.pid), 0);
      await stopWorkers(workers);
      const ok = await check(dir, (await import(CPU_TASK)).default, CPU_ITEMS);
      if (!ok) failures.push(`${n} workers: dataset read back wrong`);
      result.cpu.push({
        runner: `queue, ${n} worker process${n > 1 ? "es" : ""}`,
        itemsPerS: CPU_ITEMS / wall,
        wallS: wall,
        submitterCpuShare: share,
        cpuMsPerItem: ((workerCpu + share * wall) * 1000) / CPU_ITEMS,
        ok,
      });
      log(`${n} worker processes: ${(CPU_ITEMS / wall).toFixed(0)} items/s, submitter CPU ${(share * 100).toFixed(1)}%`);
    }
  } finally {
    redis.child.kill("SIGTERM");
    rmSync(root, { recursive: true, force: true });
  }

  console.log(`\nload average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  console.log("\n| runner | items/s | wall s | submitter CPU | CPU ms per item, all processes |\n|---|---|---|---|---|");
  for (const r of result.cpu) {
    console.log(
      `| ${r.runner} | ${r.itemsPerS.toFixed(0)} | ${r.wallS.toFixed(2)} | ${r.submitterCpuShare === null ? "-" : `${(r.submitterCpuShare * 100).toFixed(1)}%`} | ${r.cpuMsPerItem.toFixed(3)} |`,
    );
  }
  const l = result.large;
  console.log(
    `\nlarge results: ${l.items} x 64 KiB (${l.totalMiB.toFixed(0)} MiB) in ${l.wallS.toFixed(1)} s; submitter peak RSS ` +
      `${l.submitterPeakRssMiB.toFixed(0)} MiB; Redis used_memory_peak ${l.redisUsedMemoryPeakMiB.toFixed(1)} MiB`,
  );
  for (const f of failures) console.log(`FAILED: ${f}`);
  const outDir = quick ? join(BENCH, "results", "tmp") : join(BENCH, "results");
  const outFile = join(outDir, quick ? "quick-distributed.json" : "distributed.json");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  return failures.length === 0 ? 0 : 1;
}

runMain(main);
