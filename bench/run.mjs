#!/usr/bin/env node
/**
 * `npm run bench`: zarr-saver against the ways one writes Zarr otherwise (a zarrita.js
 * saver, zarr-python 3) and against its own Rust core called directly, on identical
 * data and codecs, in one run; and what `durable: true` costs zarr-saver's `save` on
 * W1 and W2 (contender zarr-saver-durable, a ratio to the plain save of the same run,
 * not a target). See bench/README.md.
 *
 *   npm run bench                  full sizes; writes bench/results/latest.json,
 *                                  bench/results/ratios.svg and bench/RESULTS.md
 *   npm run bench -- --quick       every contender and workload at smoke-test sizes
 *                                  (CI); writes under bench/results/tmp/
 *   options: --reps N  --only zarr-saver-async,zarr-python  --workloads W1,W3
 *            --dir DIR (parent of the scratch directory; default /dev/shm, a tmpfs, when
 *            there is one with room: no disk costs; name a directory on a disk to
 *            measure that disk too)
 *            --keep (keep the scratch directory, every output and each process's jobs.json)
 *            --label NAME (a supplementary run: bench/results/NAME-latest.json and NAME-ratios.svg)
 *
 * Exit status: 0 unless a contender crashed (or the harness itself failed).
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printUsage, runMain } from "./lib/cli.mjs";
import { ROOT, resolveContenders, runContender, runsOn } from "./lib/contenders.mjs";
import { distinctPositions, readRows, writeDataFile, writeIndicesFile } from "./lib/data.mjs";
import { defaultScratchParent, fsDescription, machine, staleBuild, versions } from "./lib/machine.mjs";
import { consoleReport, keptAnalysis, markdown } from "./lib/report.mjs";
import { durableCost, ratioRanges, ratios, summarizeCell, targets } from "./lib/stats.mjs";
import { ratiosSvg } from "./lib/svg.mjs";
import { hasStrace, syscallsPerAppend } from "./lib/syscalls.mjs";
import { CODECS, COLS, dataRows, job, sizes, workloads } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    only: { type: "string" },
    workloads: { type: "string" },
    dir: { type: "string" },
    // The former name of --dir.
    tmp: { type: "string" },
    keep: { type: "boolean", default: false },
    label: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) printUsage(import.meta.url);

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const quick = args.quick;
const s = sizes(quick);
const reps = args.reps ? Number(args.reps) : s.reps;
/** Repetitions of workload `w`: `--reps` for all, else fewer for the slow ones. */
const repsOf = (w) => (args.reps ? reps : w.capped ? s.slowReps : s.reps);
const only = args.only?.split(",").map((x) => x.trim());
const wanted = args.workloads?.split(",").map((x) => x.trim());
const selected = workloads(s).filter((w) => !wanted || wanted.some((p) => w.id.startsWith(p)));
const official = !quick && !only && !wanted && !args.label;
const resultsDir = join(ROOT, "bench", "results");
const outDir = official || args.label ? resultsDir : join(resultsDir, "tmp");

const scratchParent = args.dir ?? args.tmp ?? defaultScratchParent(quick ? 2 ** 28 : 2 ** 32);
const scratch = mkdtempSync(join(scratchParent, "zarr-saver-bench-"));
log(`scratch directory ${scratch} on ${fsDescription(scratch)}`);
const cleanup = () => {
  if (!args.keep) rmSync(scratch, { recursive: true, force: true });
};
process.on("exit", cleanup);
/**
 * Each run's outputs in a block group of their own: on ext4, `chattr +T` marks a
 * directory as the top of hierarchies, so the directories made in it are spread
 * over the disk. A contender then allocates inodes where no other contender freed
 * any (see `emptyOutputs`); its own freed inodes still cost it. Best effort: other
 * filesystems refuse the flag, and nothing changes.
 */
const runsDir = join(scratch, "runs");
mkdirSync(runsDir);
spawnSync("chattr", ["+T", runsDir], { stdio: "ignore" });
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

/** The shared inputs: data file, update positions, and the array updates start from. */
async function prepareInputs() {
  const paths = {
    dataFile: join(scratch, "data.f64"),
    indicesFile: join(scratch, "indices.json"),
    template: join(scratch, "template.zarr"),
  };
  const rows = dataRows(s);
  log(`writing ${rows} x ${COLS} float64 of input (${((rows * COLS * 8) / 2 ** 20).toFixed(0)} MiB) to ${scratch}`);
  writeDataFile(paths.dataFile, rows * COLS);
  writeIndicesFile(paths.indicesFile, distinctPositions(s.updateTemplateRows, s.updateCount));
  if (selected.some((w) => w.kind === "update")) {
    const { ZarrSaver, HAS_NATIVE } = await import("zarr-saver");
    if (!HAS_NATIVE) throw new Error("the zarr-saver native addon did not load: run `npm run build` first");
    const data = readRows(paths.dataFile, 0, s.updateTemplateRows, COLS);
    new ZarrSaver(paths.template, { datasetName: "data", approach: "overwrite" }).saveSync(
      { data, shape: [s.updateTemplateRows, COLS] },
      { chunks: [8192, COLS], compressor: CODECS["blosc-lz4"] },
    );
  }
  return paths;
}

function sizeOf(path) {
  let total = 0;
  const walk = (p) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
    else total += st.size;
  };
  if (existsSync(path)) walk(path);
  return total;
}

/** zarr.json codecs as canonical JSON (sorted keys), to check every contender wrote the same ones. */
function codecsOf(container) {
  try {
    const meta = JSON.parse(readFileSync(join(container, "data", "zarr.json"), "utf8"));
    const canon = (v) =>
      Array.isArray(v)
        ? v.map(canon)
        : v && typeof v === "object"
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, canon(v[k])]),
            )
          : v;
    return JSON.stringify(canon(meta.codecs));
  } catch {
    return undefined;
  }
}

const slug = (id) => id.toLowerCase().replace(/[^a-z0-9]+/g, "-");

/** Contenders whose system calls per W2 append are counted (see lib/syscalls.mjs). */
const TRACED = ["zarr-saver-async", "zarr-saver-sync", "rust-direct"];

/**
 * System calls and thread wakes per W2 append of zarr-saver and of its core, when W2
 * runs and strace is installed: `{ [contender]: { perAppend, futexWakes, byCall } }`,
 * or `{ skipped: reason }`.
 */
function countSyscalls(runnable, paths) {
  const w2 = selected.find((w) => w.kind === "append");
  if (!w2) return undefined;
  if (!hasStrace()) return { skipped: "strace is not installed" };
  const saves = Math.min(w2.saves, 1000);
  const out = {};
  for (const c of runnable.filter((c) => TRACED.includes(c.name))) {
    log(`counting system calls per W2 append of ${c.label} (strace -f, ${saves} appends)`);
    try {
      const base = job(w2, s, paths, "", "");
      out[c.name] = syscallsPerAppend(c, base, saves, join(runsDir, `strace-${c.name}`));
    } catch (err) {
      out[c.name] = { error: err.message };
    }
  }
  return out;
}

async function main() {
  const started = new Date();
  const stale = staleBuild();
  for (const p of stale) log(`WARNING: ${p}; zarr-saver's figures may not match the current core`);
  const paths = await prepareInputs();
  const contenders = await resolveContenders(only, log);
  const runnable = contenders.filter((c) => !c.skipped);
  for (const c of contenders.filter((c) => c.skipped)) log(`skipping ${c.label}: ${c.skipped}`);

  /** runs[workload][contender] = [{ rep, seconds, bytes, maxRssKiB, ... }] */
  const runs = {};
  const extra = {};
  const crashes = [];
  let pythonVersions = {};
  const timeoutMs = (quick ? 180 : 1200) * 1000;

  /** Run `c` on the workloads `ws` in one process (repetition `rep`), and file what it reports. */
  async function runProcess(c, ws, rep) {
    const out = join(runsDir, `${c.name}-${rep}-${ws.length === 1 ? slug(ws[0].id) : "all"}`);
    mkdirSync(out, { recursive: true });
    const jobs = ws.map((w) => {
      const container = join(out, `${slug(w.id)}.zarr`);
      if (w.kind === "update") cpSync(paths.template, container, { recursive: true });
      return job(w, s, paths, out, container);
    });
    // Start every contender with no dirty pages of the one before: otherwise whoever runs
    // first after a pause writes into an idle page cache and the next ones wait on writeback.
    if (!quick) spawnSync("sync");
    // With --keep, each process's jobs stay beside its output, to rerun it under a profiler.
    if (args.keep) writeFileSync(join(out, "jobs.json"), JSON.stringify(jobs));
    try {
      const report = await runContender(c, jobs, timeoutMs);
      if (report.versions) pythonVersions = { ...pythonVersions, ...report.versions };
      for (const [i, r] of report.results.entries()) {
        const w = ws[i];
        runs[w.id] ??= {};
        extra[w.id] ??= {};
        if (r.skipped) {
          extra[w.id][c.name] = { notApplicable: r.skipped };
          continue;
        }
        runs[w.id][c.name] ??= [];
        runs[w.id][c.name].push({ rep, ...r, maxRssKiB: report.maxRssKiB });
        if (!extra[w.id][c.name]) {
          extra[w.id][c.name] = { storedBytes: sizeOf(jobs[i].container), codecs: codecsOf(jobs[i].container) };
        }
        const rate = r.bytes / 1e6 / r.seconds;
        const cap = r.capped ? ` (capped: ${r.capped.done}/${r.capped.of} ${r.capped.unit})` : "";
        const loop = r.eventLoop ? `, loop p99 ${r.eventLoop.p99Ms.toFixed(1)} ms` : "";
        log(
          `  ${w.id.padEnd(16)} ${c.label.padEnd(20)} ${rate.toFixed(1).padStart(8)} MB/s  ${r.seconds.toFixed(3)} s${cap}${loop}, peak RSS ${(report.maxRssKiB / 1024).toFixed(0)} MiB`,
        );
      }
    } catch (err) {
      crashes.push(`${c.label} on ${ws.map((w) => w.id).join(", ")}: ${err.message}`);
      log(`CRASH ${c.label}: ${err.message}`);
      for (const w of ws) {
        extra[w.id] ??= {};
        extra[w.id][c.name] = { ...extra[w.id][c.name], error: err.message };
      }
    }
    return out;
  }

  /**
   * Once every contender has run a repetition, its outputs are emptied (every file
   * truncated to zero bytes) and only unlinked with the scratch directory at exit. On
   * ext4 without a journal (this machine's disk), creating files soon after thousands
   * were deleted is several times slower (`recently_deleted`): deleting mid-run would
   * put that cost on whichever contender ran next. Truncation frees the space and no inode.
   */
  const emptyOutputs = (outs) => {
    if (args.keep) return;
    const walk = (p) => {
      for (const entry of readdirSync(p, { withFileTypes: true })) {
        const path = join(p, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) truncateSync(path, 0);
      }
    };
    for (const out of outs) if (existsSync(out)) walk(out);
  };

  if (quick) {
    // Smoke test: one process per contender runs every workload it takes part in.
    for (let rep = 0; rep < reps; rep++) {
      const outs = [];
      for (const c of runnable) {
        const ws = selected.filter((w) => runsOn(c, w));
        if (ws.length === 0) continue;
        log(`[${rep + 1}/${reps}] ${c.label}`);
        outs.push(await runProcess(c, ws, rep));
      }
      emptyOutputs(outs);
    }
  } else {
    // One process per (repetition, workload, contender): clean peak RSS, and contenders
    // interleaved in time so that a ratio compares runs seconds apart. The order of
    // contenders rotates between repetitions so none always runs first.
    for (let rep = 0; rep < reps; rep++) {
      for (const w of selected) {
        if (rep >= repsOf(w)) continue;
        log(`[${rep + 1}/${repsOf(w)}] ${w.id}: ${w.describe}`);
        const order = runnable.map((_, i) => runnable[(i + rep) % runnable.length]);
        const outs = [];
        for (const c of order) {
          if (!runsOn(c, w)) continue;
          if (c.name === "rust-direct" && w.kind.startsWith("convert")) {
            extra[w.id] ??= {};
            extra[w.id][c.name] = { notApplicable: "no JS values to convert in Rust" };
            continue;
          }
          outs.push(await runProcess(c, [w], rep));
        }
        emptyOutputs(outs);
      }
    }
  }

  const syscalls = countSyscalls(runnable, paths);

  const cells = {};
  for (const w of selected) {
    cells[w.id] = {};
    for (const c of contenders) {
      const e = extra[w.id]?.[c.name] ?? (runsOn(c, w) ? {} : { notApplicable: `runs only ${c.workloads.join(", ")}` });
      const summary = summarizeCell(runs[w.id]?.[c.name] ?? []);
      cells[w.id][c.name] = c.skipped ? { skipped: c.skipped } : { ...summary, ...e };
    }
  }
  const ratio = ratios(selected, runs);
  const ranges = ratioRanges(selected, runs);
  const bulk = selected.find((w) => w.id === "W1 blosc lz4");
  const result = {
    generatedAt: started.toISOString(),
    quick,
    reps,
    repsPerWorkload: Object.fromEntries(selected.map((w) => [w.id, quick ? reps : repsOf(w)])),
    machine: machine(),
    versions: {
      ...versions(),
      "zarr-python": pythonVersions.zarr,
      numpy: pythonVersions.numpy,
      numcodecs: pythonVersions.numcodecs,
      tensorstore: pythonVersions.tensorstore,
    },
    sizes: s,
    workloads: selected.map(({ id, kind, describe, bytes, codecName }) => ({ id, kind, describe, bytes, codecName })),
    contenders: contenders.map(({ name, label, skipped }) => ({ name, label, skipped })),
    cells,
    ratios: ratio,
    ratioRanges: ranges,
    durableCost: durableCost(selected, runs),
    syscalls,
    scratchFs: fsDescription(scratch),
    targets: bulk ? targets(cells, ratio, bulk.bytes, ranges, syscalls) : [],
    crashes,
    staleBuild: stale,
    runs,
  };

  console.log(consoleReport(result));
  mkdirSync(outDir, { recursive: true });
  const prefix = args.label ? `${args.label}-` : official ? "" : quick ? "quick-" : "partial-";
  writeFileSync(join(outDir, `${prefix}latest.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, `${prefix}ratios.svg`), ratiosSvg(result));
  const written = [join(outDir, `${prefix}latest.json`), join(outDir, `${prefix}ratios.svg`)];
  if (!args.label) {
    const mdPath = official ? join(ROOT, "bench", "RESULTS.md") : join(outDir, `${prefix}RESULTS.md`);
    const previous = existsSync(join(ROOT, "bench", "RESULTS.md"))
      ? readFileSync(join(ROOT, "bench", "RESULTS.md"), "utf8")
      : undefined;
    writeFileSync(mdPath, markdown(result, keptAnalysis(previous)));
    written.push(mdPath);
  }
  log(`wrote ${written.join(", ")}`);
  return crashes.length === 0 ? 0 : 1;
}

runMain(main);
