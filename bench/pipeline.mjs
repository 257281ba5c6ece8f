#!/usr/bin/env node
/**
 * W5, end-to-end pipeline throughput: zarr-saver's `TaskManager` runs a CPU-light task
 * (bench/pipeline-task.mjs: item i -> row i of the bench data, a Float64Array(16)) over
 * M items in 2 worker threads and hands every 1,000 results, in item order, to a saver.
 *
 *   node bench/pipeline.mjs            M = 200,000, 3 repetitions; writes bench/results/pipeline.json
 *   node bench/pipeline.mjs --quick    M = 20,000, 3 repetitions; writes bench/results/tmp/quick-pipeline.json
 *   options: --reps N  --items M
 *
 * Savers (both append to a new local array, chunks [8192, 16], Blosc lz4 clevel 5 shuffle):
 *   zarr-saver   ZarrSaver.save, given the batch as TaskManager hands it (an array of
 *                1,000 Float64Array rows)
 *   zarrita      the zarrita.js baseline saver (baselines/zarrita-saver.mjs); it takes
 *                no array of typed arrays, so a two-line adapter packs each batch into
 *                one { data, shape } first (inside save, so inside the measured save time)
 *   no saver     reference: the same run without a saver (results kept in memory), the
 *                ceiling the pipeline itself sets
 *
 * Reported: items/s (M / wall time of submitTasks, worker start-up included, as a user
 * sees it), the ratio zarr-saver / zarrita (median of the ratios within each repetition;
 * savers interleaved, order rotating), and from submitTasks' summary the time spent
 * inside save (summed; it overlaps computing) and the time dispatch was paused waiting
 * for the saver (stalledMs). Each saver first does an untimed warm-up run. Every array
 * of the first repetition is read back (zarrita.js) and compared bit for bit with the
 * rows the task computes.
 *
 * Exit status: 0 unless a run crashed or an array read back wrong.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import FileSystemStore from "@zarrita/storage/fs";
import { HAS_NATIVE, TaskManager, ZarrSaver } from "zarr-saver";
import * as zarr from "zarrita";
import { ZarritaSaver } from "./baselines/zarrita-saver.mjs";
import { printUsage, runMain } from "./lib/cli.mjs";
import { machine, staleBuild, versions } from "./lib/machine.mjs";
import { markdownTable } from "./lib/markdown.mjs";
import { CODECS } from "./lib/workloads.mjs";
import RowTask from "./pipeline-task.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    items: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) printUsage(import.meta.url);

const log = (msg) => process.stderr.write(`pipeline: ${msg}\n`);
const quick = args.quick;
const COLS = 16;
const WORKERS = 2;
const SAVE_INTERVAL = 1000;
const SAVE_OPTIONS = { chunks: [8192, COLS], compressor: CODECS["blosc-lz4"] };
const SIZES = quick ? { items: 20_000, warmItems: 2_000, reps: 3 } : { items: 200_000, warmItems: 10_000, reps: 3 };
const items = args.items ? Number(args.items) : SIZES.items;
const reps = args.reps ? Number(args.reps) : SIZES.reps;

/** The zarrita saver behind the batch TaskManager hands over (an array of rows): packed into one { data, shape }. */
class PackedZarritaSaver {
  constructor(filePath, options) {
    this.inner = new ZarritaSaver(filePath, options);
  }

  save(batch, options) {
    const cols = batch[0].length;
    const data = new Float64Array(batch.length * cols);
    for (let i = 0; i < batch.length; i++) data.set(batch[i], i * cols);
    return this.inner.save({ data, shape: [batch.length, cols] }, options);
  }
}

const CONTENDERS = [
  { name: "zarr-saver", label: "zarr-saver", make: (path) => new ZarrSaver(path, { datasetName: "data" }) },
  { name: "zarrita", label: "zarrita.js saver", make: (path) => new PackedZarritaSaver(path, { datasetName: "data" }) },
  { name: "none", label: "no saver (reference)", make: () => undefined },
];

const scratch = mkdtempSync(join(tmpdir(), "zarr-saver-bench-pipeline-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

/** One pipeline run of `n` items into a fresh container; resolves with the summary and wall time. */
async function runOnce(c, n, container) {
  const saver = c.make(container);
  const tm = new TaskManager(new URL("./pipeline-task.mjs", import.meta.url), { workers: WORKERS });
  const list = Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();
  const summary = await tm.submitTasks(list, {
    saver,
    saveInterval: SAVE_INTERVAL,
    saveOptions: SAVE_OPTIONS,
    progressBar: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (tm.activeWorkers !== 0) throw new Error(`${tm.activeWorkers} worker threads still running after the run`);
  if (summary.items !== n) throw new Error(`computed ${summary.items} of ${n} items`);
  if (saver && summary.saved !== n) throw new Error(`saved ${summary.saved} of ${n} items`);
  return { seconds, summary, results: saver ? undefined : tm.getResults() };
}

/** Read `container`/data back with zarrita.js and compare it bit for bit with what the task computes. */
async function readBack(container, n) {
  const arr = await zarr.open.v3(zarr.root(new FileSystemStore(container)).resolve("data"), { kind: "array" });
  if (JSON.stringify(arr.shape) !== JSON.stringify([n, COLS])) return `shape [${arr.shape}], expected [${n}, ${COLS}]`;
  const got = (await zarr.get(arr)).data;
  const task = new RowTask();
  const gotBits = new BigUint64Array(got.buffer, got.byteOffset, got.length);
  for (let i = 0; i < n; i++) {
    const row = new BigUint64Array(task.processItem(i).buffer);
    for (let c = 0; c < COLS; c++) if (gotBits[i * COLS + c] !== row[c]) return `row ${i} differs from the task's result`;
  }
  return undefined;
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

async function main() {
  const started = new Date();
  if (!HAS_NATIVE) throw new Error("the zarr-saver native addon did not load: run `npm run build` first");
  for (const p of staleBuild()) log(`WARNING: ${p}; zarr-saver's figures may not match the current core`);

  const runs = {}; // runs[contender] = [{ rep, seconds, itemsPerSecond, saveMs, stalledMs, saves }]
  const crashes = [];
  const readBacks = {};

  for (const c of CONTENDERS) {
    log(`warm-up: ${c.label}, ${SIZES.warmItems} items`);
    const container = join(scratch, `warmup-${c.name}.zarr`);
    try {
      await runOnce(c, SIZES.warmItems, container);
    } catch (err) {
      crashes.push(`${c.label} (warm-up): ${err.message}`);
    }
    rmSync(container, { recursive: true, force: true });
  }

  for (let rep = 0; rep < reps; rep++) {
    log(`[${rep + 1}/${reps}] W5 pipeline: ${items} items, ${WORKERS} worker threads, a save every ${SAVE_INTERVAL} results`);
    const order = CONTENDERS.map((_, i) => CONTENDERS[(i + rep) % CONTENDERS.length]);
    for (const c of order) {
      if (crashes.some((x) => x.startsWith(`${c.label} `))) continue;
      const container = join(scratch, `${c.name}-${rep}.zarr`);
      try {
        const { seconds, summary, results } = await runOnce(c, items, container);
        const run = {
          rep,
          seconds,
          itemsPerSecond: items / seconds,
          saves: summary.saves,
          saveMs: summary.saveMs,
          stalledMs: summary.stalledMs,
          elapsedMs: summary.elapsedMs,
        };
        runs[c.name] ??= [];
        runs[c.name].push(run);
        if (rep === 0 && c.name !== "none") {
          const bad = await readBack(container, items);
          readBacks[c.name] = bad ?? "identical to the task's results";
          if (bad) crashes.push(`${c.label}: read-back: ${bad}`);
        } else if (rep === 0 && results) {
          readBacks[c.name] = results.length === items ? "results in memory" : `${results.length} results`;
        }
        log(
          `  ${c.label.padEnd(22)} ${Math.round(run.itemsPerSecond).toString().padStart(8)} items/s  ${seconds.toFixed(3)} s, ` +
            `${run.saves} saves, ${(run.saveMs / 1000).toFixed(3)} s in save, ${(run.stalledMs / 1000).toFixed(3)} s stalled`,
        );
      } catch (err) {
        crashes.push(`${c.label} (repetition ${rep + 1}): ${err.message}`);
        log(`CRASH ${c.label}: ${err.message}`);
      } finally {
        rmSync(container, { recursive: true, force: true });
      }
    }
  }

  const cells = {};
  for (const c of CONTENDERS) {
    const rs = runs[c.name] ?? [];
    cells[c.name] = rs.length
      ? {
          itemsPerSecond: median(rs.map((r) => r.itemsPerSecond)),
          seconds: median(rs.map((r) => r.seconds)),
          mbps: median(rs.map((r) => (items * COLS * 8) / 1e6 / r.seconds)),
          saves: rs[0].saves,
          saveSeconds: median(rs.map((r) => r.saveMs / 1000)),
          saveShare: median(rs.map((r) => r.saveMs / 1000 / r.seconds)),
          stalledSeconds: median(rs.map((r) => r.stalledMs / 1000)),
          reps: rs.length,
          readBack: readBacks[c.name],
        }
      : { crashed: true };
  }
  const paired = (a, b) => {
    const byRep = new Map((runs[b] ?? []).map((r) => [r.rep, r.itemsPerSecond]));
    const r = (runs[a] ?? []).filter((x) => byRep.has(x.rep)).map((x) => x.itemsPerSecond / byRep.get(x.rep));
    return r.length ? { median: median(r), min: Math.min(...r), max: Math.max(...r), perRep: r } : undefined;
  };
  const ratios = {
    "zarr-saver / zarrita": paired("zarr-saver", "zarrita"),
    "zarr-saver / no saver": paired("zarr-saver", "none"),
    "zarrita / no saver": paired("zarrita", "none"),
  };

  const result = {
    generatedAt: started.toISOString(),
    quick,
    reps,
    machine: machine(),
    versions: versions(),
    workload: {
      id: "W5 pipeline",
      items,
      workers: WORKERS,
      saveInterval: SAVE_INTERVAL,
      chunkSize: 100,
      saveOptions: SAVE_OPTIONS,
      task: "bench/pipeline-task.mjs: item i -> Float64Array(16), row i of bench/lib/data.mjs",
      rawBytes: items * COLS * 8,
    },
    contenders: CONTENDERS.map(({ name, label }) => ({ name, label })),
    cells,
    ratios,
    crashes,
    runs,
  };

  const fmtRatio = (r) =>
    r ? `${r.median.toFixed(2)}x${r.perRep.length > 1 ? ` (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : ""}` : "-";
  const rows = CONTENDERS.map((c) => {
    const cell = cells[c.name];
    if (cell.crashed) return [c.label, "crashed", "", "", "", "", "", ""];
    const vsNone = c.name === "none" ? "1.00x" : fmtRatio(ratios[`${c.name} / no saver`]);
    return [
      c.label,
      Math.round(cell.itemsPerSecond).toLocaleString("en-US"),
      cell.seconds.toFixed(2),
      cell.mbps.toFixed(1),
      c.name === "none" ? "-" : String(cell.saves),
      c.name === "none" ? "-" : `${cell.saveSeconds.toFixed(2)} (${(cell.saveShare * 100).toFixed(0)}%)`,
      c.name === "none" ? "-" : cell.stalledSeconds.toFixed(2),
      vsNone,
    ];
  });
  console.log(
    `\nW5 pipeline: ${items.toLocaleString("en-US")} items, ${WORKERS} worker threads, saveInterval ${SAVE_INTERVAL}, ` +
      `chunks [8192, 16] blosc lz4; ${reps} repetition(s), median${quick ? "; QUICK sizes" : ""}\n`,
  );
  console.log(
    markdownTable(["saver", "items/s", "wall s", "MB/s raw", "saves", "in save s (% of wall)", "stalled s", "vs no saver"], rows),
  );
  console.log(`\nzarr-saver / zarrita (items/s): ${fmtRatio(ratios["zarr-saver / zarrita"])}`);
  console.log(
    `read back: ${
      Object.entries(readBacks)
        .map(([k, v]) => `${k}: ${v}`)
        .join("; ") || "not done"
    }`,
  );
  for (const c of crashes) console.log(`CRASH: ${c}`);

  const outDir = quick ? join(BENCH, "results", "tmp") : join(BENCH, "results");
  const outFile = join(outDir, quick ? "quick-pipeline.json" : "pipeline.json");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  return crashes.length === 0 ? 0 : 1;
}

runMain(main);
