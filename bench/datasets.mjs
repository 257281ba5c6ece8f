#!/usr/bin/env node
/**
 * W6, xarray-style appends, and what keeping consolidated metadata costs.
 *
 *   node bench/datasets.mjs            full sizes, 3 repetitions; writes bench/results/datasets.json
 *   node bench/datasets.mjs --quick    smoke-test sizes (seconds); writes bench/results/tmp/quick-datasets.json
 *   options: --reps N
 *
 * W6: S saves (2,000; quick 100), each adding 10 rows to three float32 variables of
 * shape [time, 64] and to the int64 time coordinate, into one local Zarr v3 group with
 * consolidated metadata; Blosc lz4 clevel 5 byte shuffle. Twice: with chunks of 10 rows
 * (W6, what xarray makes by default: the first save's shape, so every append writes new
 * chunks) and of 1,000 rows (W6-1k: every append rewrites the tail chunks).
 *   group      one GroupSaver.save of the four arrays per step (the first creates the group)
 *   separate   four ZarrSaver appends per step, one per array, awaited in turn, into a
 *              group the first GroupSaver save created
 *   xarray     xarray's own `ds.to_zarr(path, append_dim="time")` per step, in the project
 *              venv (baselines/xarray_append_bench.py); stops at a time budget and is
 *              measured on the saves it made
 * W2c: the bench's W2 (K = 5,000, quick 200, saves of [100, 16] float64 appended; chunks
 * [8192, 16], Blosc lz4) by ZarrSaver into a plain container and into one whose root
 * carries consolidated metadata (created with `consolidated: true`), which every append
 * then rewrites.
 *
 * Reported: saves/s (steps/s for W6), ratios taken within each repetition (contenders
 * interleaved, order rotating), medians. The first repetition's datasets are read back
 * with xarray (`xr.open_zarr`, its defaults) and checked: length and last values.
 * Targets (issue: datasets): group >= 20x xarray; group <= the four separate appends;
 * consolidated W2 < 1.2x the plain one.
 *
 * Exit status: 0 unless a run crashed or a read-back was wrong.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Blosc, GroupSaver, HAS_NATIVE, ZarrSaver } from "zarr-saver";
import { printUsage, runMain } from "./lib/cli.mjs";
import { venvPython } from "./lib/contenders.mjs";
import { machine, staleBuild, versions } from "./lib/machine.mjs";
import { median } from "./lib/stats.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) printUsage(import.meta.url);

const log = (msg) => process.stderr.write(`datasets: ${msg}\n`);
const quick = args.quick;
const SIZES = quick
  ? { steps: 100, w2Saves: 200, reps: 1, xarrayBudget: 10 }
  : { steps: 2_000, w2Saves: 5_000, reps: 3, xarrayBudget: 45 };
const reps = args.reps ? Number(args.reps) : SIZES.reps;
const ROWS = 10;
const COLS = 64;
const VARIABLES = ["temp", "wind", "pressure"];
const compressor = new Blosc({ cname: "lz4", clevel: 5, shuffle: 1 });

const scratch = mkdtempSync(join(tmpdir(), "zarr-saver-bench-datasets-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
// Outputs stay until exit, each run's in a block group of its own (ext4's `chattr +T`,
// best effort): a contender creating files right after another deleted thousands would
// step over the freed inodes and pay for it (bench/README.md, Disk).
spawnSync("chattr", ["+T", scratch], { stdio: "ignore" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

/** Step k's rows: value k + column / 100 in every variable, time k*ROWS + i (as the xarray side). */
function step(k) {
  const values = new Float32Array(ROWS * COLS);
  for (let i = 0; i < ROWS; i++) for (let c = 0; c < COLS; c++) values[i * COLS + c] = k + c / 100;
  const time = new BigInt64Array(ROWS);
  for (let i = 0; i < ROWS; i++) time[i] = BigInt(k * ROWS + i);
  const arrays = Object.fromEntries(VARIABLES.map((n) => [n, { data: values, shape: [ROWS, COLS] }]));
  return { ...arrays, time };
}
const createOptions = (chunkRows) => ({
  compressor,
  arrays: { ...Object.fromEntries(VARIABLES.map((n) => [n, { chunks: [chunkRows, COLS] }])), time: { chunks: [chunkRows] } },
});

// Both zarr-saver contenders are timed over the appends, after the save that creates
// the group; xarray's time includes its first save (it is the same call, mode "w").
async function w6Group(path, steps, chunkRows) {
  const ds = new GroupSaver(path);
  await ds.save(step(0), createOptions(chunkRows));
  const t0 = performance.now();
  for (let k = 1; k < steps; k++) await ds.save(step(k));
  return { saves: steps - 1, seconds: (performance.now() - t0) / 1000 };
}

async function w6Separate(path, steps, chunkRows) {
  await new GroupSaver(path).save(step(0), createOptions(chunkRows));
  const savers = [...VARIABLES, "time"].map((n) => [n, new ZarrSaver(path, { datasetName: n })]);
  const t0 = performance.now();
  for (let k = 1; k < steps; k++) {
    const s = step(k);
    for (const [n, saver] of savers) await saver.save(s[n]);
  }
  return { saves: steps - 1, seconds: (performance.now() - t0) / 1000 };
}

function w6Xarray(python, path, steps, chunkRows) {
  const job = { path, saves: steps, rows: ROWS, cols: COLS, chunkRows, budgetSeconds: SIZES.xarrayBudget };
  return new Promise((resolve, reject) => {
    execFile(
      python,
      [join(BENCH, "baselines", "xarray_append_bench.py"), JSON.stringify(job)],
      { maxBuffer: 1 << 24 },
      (err, out) => (err ? reject(err) : resolve(JSON.parse(out.trim().split("\n").at(-1)))),
    );
  });
}

async function w2(path, saves, consolidated) {
  const saver = new ZarrSaver(path, { datasetName: "data" });
  const block = new Float64Array(100 * 16);
  const t0 = performance.now();
  for (let k = 0; k < saves; k++) {
    block.fill(k);
    await saver.save(
      { data: block, shape: [100, 16] },
      k === 0 ? { chunks: [8192, 16], compressor, ...(consolidated ? { consolidated: true } : {}) } : {},
    );
  }
  return { saves, seconds: (performance.now() - t0) / 1000 };
}

/** xarray's view of a W6 group: the time length and the last row of each variable. */
function readBack(python, path) {
  const code = `
import json, sys, xarray as xr
ds = xr.open_zarr(sys.argv[1])
print(json.dumps({"time": int(ds.sizes["time"]), "last": {n: float(ds[n][-1, -1]) for n in ["temp", "wind", "pressure"]}, "lastTime": int(ds["time"][-1])}))
`;
  return new Promise((resolve, reject) =>
    execFile(python, ["-c", code, path], (err, out) => (err ? reject(err) : resolve(JSON.parse(out.trim())))),
  );
}

async function main() {
  const started = new Date();
  if (!HAS_NATIVE) throw new Error("the zarr-saver native addon did not load: run `npm run build` first");
  for (const p of staleBuild()) log(`WARNING: ${p}; zarr-saver's figures may not match the current core`);
  const { python, reason } = venvPython(log);
  if (reason) log(`xarray skipped: ${reason}`);
  const crashes = [];
  const runs = {};
  const readBacks = {};
  const w6 = (suffix, chunkRows) => [
    { name: `group${suffix}`, run: (p) => w6Group(p, SIZES.steps, chunkRows) },
    { name: `separate${suffix}`, run: (p) => w6Separate(p, SIZES.steps, chunkRows) },
    ...(python ? [{ name: `xarray${suffix}`, run: (p) => w6Xarray(python, p, SIZES.steps, chunkRows) }] : []),
  ];
  const W2C = [
    { name: "plain", run: (p) => w2(p, SIZES.w2Saves, false) },
    { name: "consolidated", run: (p) => w2(p, SIZES.w2Saves, true) },
  ];
  for (let rep = 0; rep < reps; rep++) {
    for (const [label, list] of [
      ["W6", w6("", ROWS)],
      ["W6-1k", w6("-1k", 1_000)],
      ["W2c", W2C],
    ]) {
      const order = list.map((_, i) => list[(i + rep) % list.length]);
      for (const c of order) {
        const path = join(scratch, `${c.name}-${rep}.zarr`);
        try {
          const r = await c.run(path);
          runs[c.name] ??= [];
          runs[c.name].push({ rep, ...r, perSecond: r.saves / r.seconds });
          log(
            `[${rep + 1}/${reps}] ${label} ${c.name.padEnd(12)} ${(r.saves / r.seconds).toFixed(1).padStart(8)} saves/s  (${r.saves} in ${r.seconds.toFixed(2)} s)`,
          );
          if (rep === 0 && label.startsWith("W6") && python) {
            const seen = await readBack(python, path);
            const steps = c.name.startsWith("xarray") ? r.saves : SIZES.steps;
            const want = steps - 1 + (COLS - 1) / 100;
            const ok =
              seen.time === steps * ROWS &&
              seen.lastTime === steps * ROWS - 1 &&
              VARIABLES.every((n) => Math.abs(seen.last[n] - want) < 1e-3);
            readBacks[c.name] = ok ? `xr.open_zarr: time=${seen.time}, last values as written` : JSON.stringify(seen);
            if (!ok) crashes.push(`${c.name}: read-back ${JSON.stringify(seen)}`);
          }
        } catch (err) {
          crashes.push(`${c.name} (repetition ${rep + 1}): ${err.message}`);
          log(`CRASH ${c.name}: ${err.message}`);
        }
      }
    }
  }
  // Ratios within each repetition, then their median.
  const paired = (a, b, f) =>
    median(
      (runs[a] ?? []).map((r) => [r, (runs[b] ?? []).find((x) => x.rep === r.rep)]).map(([r, x]) => (x ? f(r, x) : Number.NaN)),
    );
  const rate = (name) => median((runs[name] ?? []).map((r) => r.perSecond));
  const figures = {};
  for (const suffix of ["", "-1k"]) {
    figures[`W6${suffix}`] = {
      groupStepsPerSecond: rate(`group${suffix}`),
      separateStepsPerSecond: rate(`separate${suffix}`),
      xarrayStepsPerSecond: rate(`xarray${suffix}`),
      groupOverXarray: paired(`group${suffix}`, `xarray${suffix}`, (g, x) => g.perSecond / x.perSecond),
      groupTimeOverSeparate: paired(`group${suffix}`, `separate${suffix}`, (g, x) => x.perSecond / g.perSecond),
    };
  }
  figures.W2c = {
    plainSavesPerSecond: rate("plain"),
    consolidatedSavesPerSecond: rate("consolidated"),
    consolidatedTimeOverPlain: paired("consolidated", "plain", (c, p) => p.perSecond / c.perSecond),
  };
  const targets = [
    ["W6 GroupSaver vs xarray append_dim", ">= 20x", figures.W6.groupOverXarray, (v) => v >= 20],
    ["W6-1k GroupSaver vs xarray append_dim", ">= 20x", figures["W6-1k"].groupOverXarray, (v) => v >= 20],
    ["W6 a group save vs four separate appends (time)", "<= 1x", figures.W6.groupTimeOverSeparate, (v) => v <= 1],
    ["W6-1k a group save vs four separate appends (time)", "<= 1x", figures["W6-1k"].groupTimeOverSeparate, (v) => v <= 1],
    ["W2 into a consolidated store (time)", "< 1.2x", figures.W2c.consolidatedTimeOverPlain, (v) => v < 1.2],
  ].map(([target, goal, v, met]) => ({
    target,
    goal,
    value: v === undefined ? undefined : `${v.toFixed(2)}x`,
    met: v === undefined ? undefined : met(v),
  }));
  for (const t of targets)
    log(`target: ${t.target} ${t.goal}: ${t.value ?? "not measured"} ${t.met === undefined ? "" : t.met ? "(met)" : "(MISSED)"}`);
  const result = {
    generatedAt: started.toISOString(),
    quick,
    reps,
    sizes: SIZES,
    machine: machine(),
    versions: versions(),
    figures,
    targets,
    runs,
    readBacks,
    crashes,
  };
  const out = quick ? join(BENCH, "results", "tmp", "quick-datasets.json") : join(BENCH, "results", "datasets.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${out}`);
  for (const c of crashes) log(`CRASH ${c}`);
  return crashes.length ? 1 : 0;
}

runMain(main);
