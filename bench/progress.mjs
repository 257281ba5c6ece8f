// Issue #5: does onProgress slow a save? Paired runs of the same W1-style save
// (float64 [rows, 16], Blosc lz4, chunks [8192, 16]) with and without an onProgress
// callback, alternating which goes first; reports the median per-pair ratio.
//   node bench/progress.mjs [--quick]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZarrSaver } from "zarr-saver";
import { valueAt } from "./lib/data.mjs";
import { median } from "./lib/stats.mjs";

const quick = process.argv.includes("--quick");
const rows = quick ? 100_000 : 1_000_000;
const reps = quick ? 3 : 7;
const data = new Float64Array(rows * 16);
for (let i = 0; i < data.length; i++) data[i] = valueAt(i);
const dir = mkdtempSync(join(tmpdir(), "zarr-saver-progress-"));

async function timed(withProgress) {
  let calls = 0;
  const saver = new ZarrSaver(dir, { datasetName: withProgress ? "with" : "without", approach: "overwrite" });
  const options = { chunks: [8192, 16], ...(withProgress ? { onProgress: () => calls++ } : {}) };
  const t = performance.now();
  await saver.save({ data, shape: [rows, 16] }, options);
  return { seconds: (performance.now() - t) / 1000, calls };
}

try {
  await timed(false); // warm-up: page cache, thread pools
  const ratios = [];
  const runs = { with: [], without: [] };
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    const pair = {};
    for (const withProgress of order) pair[withProgress] = await timed(withProgress);
    runs.with.push(pair.true);
    runs.without.push(pair.false);
    ratios.push(pair.true.seconds / pair.false.seconds);
  }
  const mbps = (xs) => (rows * 16 * 8) / 1e6 / median(xs.map((x) => x.seconds));
  const result = {
    rows,
    reps,
    withProgressMBps: mbps(runs.with),
    withoutProgressMBps: mbps(runs.without),
    medianTimeRatio: median(ratios),
    progressCallsPerSave: median(runs.with.map((x) => x.calls)),
  };
  console.log("save of [%d, 16] float64, Blosc lz4, %d paired runs", rows, reps);
  console.log("  without onProgress  %s MB/s", result.withoutProgressMBps.toFixed(0));
  console.log(
    "  with onProgress     %s MB/s (%d callbacks per save)",
    result.withProgressMBps.toFixed(0),
    result.progressCallsPerSave,
  );
  console.log("  time with / without: %sx (median of pairs; 1.00x = no cost)", result.medianTimeRatio.toFixed(3));
  const out = quick ? join("bench", "results", "tmp", "quick-progress.json") : join("bench", "results", "progress.json");
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
