#!/usr/bin/env node
/**
 * `npm run bench:icechunk`: saves into a local Icechunk repository, each save one
 * commit, by zarr-saver (`icechunk: {}`), by Python icechunk with zarr-python 3
 * (bench/baselines/icechunk_python_bench.py, in the venv of
 * scripts/python-icechunk-venv.sh), and by Icechunk's own Node client with zarrita.js
 * when it is installed (`npm install --no-save @earthmover/icechunk`, or in another
 * directory named by ICECHUNK_JS_FROM=<dir>; skipped and reported otherwise). Same data, chunks and codecs (blosc lz4, byte shuffle) for all.
 *
 *   W1: one save of [rows, 16] float64 into a new array
 *   W2: many saves of [100, 16] float64 appended to one array, a commit each
 *
 *   npm run bench:icechunk                 full sizes; prints a table and the ratios
 *   npm run bench:icechunk -- --quick      small sizes (CI smoke run)
 *   options: --reps N (best of N per contender and workload), --tmp DIR
 *
 * Every contender runs in a process of its own and times itself, start-up excluded.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readRows, writeDataFile } from "./lib/data.mjs";
import { CODECS } from "./lib/workloads.mjs";

const ROOT = join(import.meta.dirname, "..");
const COLS = 16;
/** Where `@earthmover/icechunk` is looked up from (not a dependency of the project). */
const requireIcechunkJs = createRequire(join(process.env.ICECHUNK_JS_FROM ?? ROOT, "package.json"));
const CHUNKS = [8192, COLS];

/** One contender's job, in a process of its own: `node bench/icechunk.mjs --run NAME JOB`. */
async function runOne(name, job) {
  const data = readRows(job.dataFile, 0, job.kind === "bulk" ? job.rows : job.saves * job.rowsPerSave, COLS);
  const batches =
    job.kind === "bulk"
      ? [{ data, shape: [job.rows, COLS] }]
      : Array.from({ length: job.saves }, (_, k) => ({
          data: data.subarray(k * job.rowsPerSave * COLS, (k + 1) * job.rowsPerSave * COLS),
          shape: [job.rowsPerSave, COLS],
        }));
  let save;
  if (name === "zarr-saver") {
    const { ZarrSaver } = await import("zarr-saver");
    const saver = new ZarrSaver(job.repo, { datasetName: "data", icechunk: {} });
    save = (batch) => saver.save(batch, { chunks: CHUNKS, compressor: job.codec });
  } else {
    save = await icechunkJs(job);
  }
  const t0 = performance.now();
  for (const batch of batches) await save(batch);
  return { seconds: (performance.now() - t0) / 1000 };
}

/** A save with Icechunk's Node client and zarrita.js: a session, zarrita's writes, a commit. */
async function icechunkJs(job) {
  const { Repository, Storage } = requireIcechunkJs("@earthmover/icechunk");
  const zarr = await import("zarrita");
  await import("./baselines/zarrita-saver.mjs"); // its blosc shuffle-name fix for zarrita
  const storage = await Storage.newLocalFilesystem(job.repo);
  let rows = 0;
  return async ({ data, shape }) => {
    const repo = rows === 0 ? await Repository.create(storage) : await Repository.open(storage);
    const session = await repo.writableSession("main");
    const root = zarr.root(session.store);
    const grown = [rows + shape[0], COLS];
    const codecs = [{ name: "bytes", configuration: { endian: "little" } }, job.codec];
    const array =
      rows === 0
        ? await zarr.create(root.resolve("data"), { shape: grown, dtype: "float64", chunkShape: CHUNKS, codecs })
        : await resize(zarr, root, grown);
    await zarr.set(array, [zarr.slice(rows, grown[0]), null], { data, shape, stride: [COLS, 1] });
    rows = grown[0];
    await session.commit("save");
  };
}

/** zarrita cannot resize: the grown shape goes into zarr.json, then the array is opened again. */
async function resize(zarr, root, shape) {
  const store = root.store;
  const key = "/data/zarr.json";
  const meta = JSON.parse(new TextDecoder().decode(await store.get(key)));
  meta.shape = shape;
  await store.set(key, new TextEncoder().encode(JSON.stringify(meta)));
  return zarr.open.v3(root.resolve("data"), { kind: "array" });
}

/** Why Icechunk's Node client cannot run here (`undefined`: it can). */
function icechunkJsMissing() {
  try {
    requireIcechunkJs("@earthmover/icechunk");
    return undefined;
  } catch (err) {
    // Its loader wraps the reasons (a missing package, a binary this libc cannot load) in causes.
    const reasons = [];
    for (let e = err; e; e = e.cause) reasons.push(String(e.message).split("\n")[0]);
    if (err.code === "MODULE_NOT_FOUND" && reasons.length === 1) return "not installed";
    const why = reasons.find((r) => /undefined symbol|GLIBC|version/.test(r)) ?? reasons[0];
    return `installed, fails to load: ${why}`;
  }
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      reps: { type: "string" },
      tmp: { type: "string" },
      run: { type: "string" },
      job: { type: "string" },
    },
  });
  if (args.run) {
    process.stdout.write(`${JSON.stringify(await runOne(args.run, JSON.parse(args.job)))}\n`);
    return;
  }
  const quick = args.quick;
  const reps = Number(args.reps ?? (quick ? 1 : 3));
  const bulkRows = quick ? 65_536 : 1_000_000;
  const saves = quick ? 20 : 500;
  const rowsPerSave = 100;
  const scratch = mkdtempSync(join(args.tmp ?? tmpdir(), "zarr-saver-bench-icechunk-"));
  process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
  // Repositories stay until exit, in a block group of their own (ext4's `chattr +T`,
  // best effort): a contender creating its thousands of small files right after
  // another's were deleted would step over the freed inodes and run 2-3x slower
  // (bench/README.md, Disk).
  spawnSync("chattr", ["+T", scratch], { stdio: "ignore" });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));
  const dataFile = join(scratch, "data.f64");
  writeDataFile(dataFile, Math.max(bulkRows, saves * rowsPerSave) * COLS);
  const python = execFileSync("bash", [join(ROOT, "scripts", "python-icechunk-venv.sh")], { encoding: "utf8" }).trim();
  const contenders = [
    { name: "zarr-saver", command: (job) => [process.execPath, [import.meta.filename, "--run", "zarr-saver", "--job", job]] },
    { name: "python-icechunk", command: (job) => [python, [join(ROOT, "bench", "baselines", "icechunk_python_bench.py"), job]] },
  ];
  const missing = icechunkJsMissing();
  if (missing === undefined) {
    contenders.push({
      name: "icechunk-js",
      command: (job) => [process.execPath, [import.meta.filename, "--run", "icechunk-js", "--job", job]],
    });
  } else {
    console.log(`icechunk-js (@earthmover/icechunk + zarrita.js) skipped: ${missing}`);
  }
  const workloads = [
    { id: "W1", kind: "bulk", rows: bulkRows, bytes: bulkRows * COLS * 8 },
    { id: "W2", kind: "append", saves, rowsPerSave, bytes: saves * rowsPerSave * COLS * 8 },
  ];
  const best = {};
  let run = 0;
  for (const w of workloads) {
    for (let rep = 0; rep < reps; rep++) {
      for (const c of contenders) {
        const repo = join(scratch, `repo${run++}`);
        const job = JSON.stringify({ ...w, cols: COLS, chunks: CHUNKS, codec: CODECS["blosc-lz4"], dataFile, repo });
        const [cmd, argv] = c.command(job);
        const r = spawnSync(cmd, argv, { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 26 });
        if (r.status !== 0) throw new Error(`${c.name} ${w.id} failed:\n${r.stderr}`);
        const { seconds } = JSON.parse(r.stdout.trim().split("\n").at(-1));
        const key = `${w.id}\0${c.name}`;
        best[key] = Math.min(best[key] ?? Number.POSITIVE_INFINITY, seconds);
      }
    }
  }
  const what = {
    W1: `one save of [${bulkRows}, ${COLS}] float64 (${((bulkRows * COLS * 8) / 2 ** 20).toFixed(0)} MiB), blosc lz4`,
    W2: `${saves} saves of [${rowsPerSave}, ${COLS}] float64 appended, a commit each, blosc lz4`,
  };
  console.log(`best of ${reps}; MiB/s (seconds); ratio = zarr-saver's rate over the contender's`);
  for (const w of workloads) {
    console.log(`${w.id}: ${what[w.id]}`);
    const ours = best[`${w.id}\0zarr-saver`];
    for (const c of contenders) {
      const s = best[`${w.id}\0${c.name}`];
      const rate = w.bytes / 2 ** 20 / s;
      const ratio = c.name === "zarr-saver" ? "" : `  zarr-saver ${(s / ours).toFixed(1)}x`;
      console.log(`  ${c.name.padEnd(16)} ${rate.toFixed(1).padStart(8)} MiB/s (${s.toFixed(3)} s)${ratio}`);
    }
  }
}

await main();
