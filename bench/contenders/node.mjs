/**
 * One Node contender process: `node bench/contenders/node.mjs <contender> '<jobs JSON>'`
 * with contender `zarr-saver-async`, `zarr-saver-sync`, `zarr-saver-durable` or
 * `zarrita`. Runs each job once (after an untimed warm-up) and prints one JSON report
 * as its last stdout line.
 * The same driver serves every Node contender, so they do exactly the same work.
 */
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { readRows } from "../lib/data.mjs";

const [contender, jobsArg] = process.argv.slice(2);
const jobs = JSON.parse(jobsArg ?? "[]");

/** `(container, approach) -> save(data, options)` for each contender. */
async function saverFactory(name) {
  if (name === "zarrita") {
    const { ZarritaSaver } = await import("../baselines/zarrita-saver.mjs");
    return (container, approach) => {
      const saver = new ZarritaSaver(container, { datasetName: "data", approach });
      return (data, options) => saver.save(data, options);
    };
  }
  const { ZarrSaver, HAS_NATIVE } = await import("zarr-saver");
  if (!HAS_NATIVE) throw new Error("the zarr-saver native addon did not load; run `npm run build`");
  if (name === "zarr-saver-async") {
    return (container, approach) => {
      const saver = new ZarrSaver(container, { datasetName: "data", approach });
      return (data, options) => saver.save(data, options);
    };
  }
  if (name === "zarr-saver-durable") {
    // `save` as above, resolving only once the save is on disk (fsync before each publish).
    return (container, approach) => {
      const saver = new ZarrSaver(container, { datasetName: "data", approach, durable: true });
      return (data, options) => saver.save(data, options);
    };
  }
  if (name === "zarr-saver-sync") {
    return (container, approach) => {
      const saver = new ZarrSaver(container, { datasetName: "data", approach });
      return async (data, options) => saver.saveSync(data, options);
    };
  }
  throw new Error(`unknown contender '${name}'`);
}

const makeSaver = await saverFactory(contender);
const ms = (ns) => ns / 1e6;
const rssKiB = () => Math.round(process.memoryUsage.rss() / 1024);

/** Untimed: create, append to, update and convert into a small array with the job's codec (loads codecs, pools, JIT). */
async function warmUp(job) {
  // Kept, as every output, until the harness exits (bench/README.md, "Outputs").
  const container = join(job.out, `warmup-${job.id.replace(/\W+/g, "-")}.zarr`);
  const rows = readRows(job.dataFile, 0, 16384, job.cols);
  const opts = { chunks: [8192, job.cols], compressor: job.codec };
  await makeSaver(container, "overwrite")({ data: rows, shape: [16384, job.cols] }, opts);
  await makeSaver(container, "append")({ data: rows.subarray(0, 100 * job.cols), shape: [100, job.cols] }, opts);
  await makeSaver(container, "update")({ data: rows.subarray(0, 2 * job.cols), shape: [2, job.cols] }, { indices: [3, 9000] });
  // The conversion paths too, so the JIT has seen them before a conversion job is timed.
  const flat = Array.from(rows.subarray(0, 1000));
  const nested = Array.from({ length: 100 }, (_, r) => Array.from(rows.subarray(r * job.cols, (r + 1) * job.cols)));
  await makeSaver(container, "overwrite")(flat, { compressor: job.codec });
  await makeSaver(container, "overwrite")(nested, { compressor: job.codec });
}

/** Time `fn`, optionally sampling event-loop delay (1 ms resolution) just around it. */
async function timed(fn, eventLoop) {
  const h = eventLoop ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  h?.enable();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // Let a blocked loop report its last delay before the histogram closes.
  if (h) await sleep(5);
  h?.disable();
  const loop = h && { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), samples: h.count };
  return { seconds, eventLoop: loop };
}

/**
 * Time `fn` `job.repeats` times and keep the fastest (noise on a shared machine only
 * ever slows a run down). With `fresh`, the container is moved aside between repeats,
 * outside the timed part, so each repeat writes a new array (the old one is kept until
 * the harness exits, see bench/README.md).
 */
async function repeated(job, fn, { fresh = true, eventLoop = false } = {}) {
  const all = [];
  for (let k = 0; k < (job.repeats ?? 1); k++) {
    if (k > 0 && fresh && existsSync(job.container)) renameSync(job.container, `${job.container}.rep${k - 1}`);
    all.push(await timed(fn, eventLoop));
  }
  const loops = all.map((t) => t.eventLoop).filter(Boolean);
  return {
    seconds: Math.min(...all.map((t) => t.seconds)),
    secondsAll: all.map((t) => t.seconds),
    // The event loop: the worst of the repeats, not the best.
    eventLoop: loops.length
      ? {
          p50Ms: Math.max(...loops.map((l) => l.p50Ms)),
          p99Ms: Math.max(...loops.map((l) => l.p99Ms)),
          maxMs: Math.max(...loops.map((l) => l.maxMs)),
        }
      : undefined,
  };
}

async function runJob(job) {
  const { container } = job;
  const opts = { chunks: job.chunks, compressor: job.codec };
  const { cols } = job;
  switch (job.kind) {
    case "bulk": {
      const data = readRows(job.dataFile, 0, job.rows, cols);
      const save = makeSaver(container, "overwrite");
      const rssBeforeKiB = rssKiB();
      const t = await repeated(job, () => save({ data, shape: [job.rows, cols] }, opts), { eventLoop: job.eventLoop });
      return { ...t, bytes: data.byteLength, rssBeforeKiB };
    }
    case "append": {
      const { saves, rowsPerSave: per } = job;
      const data = readRows(job.dataFile, 0, saves * per, cols);
      const save = makeSaver(container, "append");
      const budget = job.budgetSeconds ?? Number.POSITIVE_INFINITY;
      let done = 0;
      const t = await timed(async () => {
        const t0 = performance.now();
        while (done < saves) {
          await save({ data: data.subarray(done * per * cols, (done + 1) * per * cols), shape: [per, cols] }, opts);
          done++;
          if ((performance.now() - t0) / 1000 > budget) break;
        }
      }, false);
      const capped = done < saves ? { done, of: saves, unit: "saves" } : undefined;
      return { ...t, bytes: done * per * cols * 8, saves: done, capped };
    }
    case "update": {
      const all = JSON.parse((await import("node:fs")).readFileSync(job.indicesFile, "utf8"));
      let count = job.count;
      const values = readRows(job.dataFile, job.templateRows, count, cols);
      const save = makeSaver(container, "update");
      let capped;
      if (contender === "zarrita" && job.budgetSeconds !== undefined) {
        // Per-row sets cost a chunk read-modify-write each: estimate on rows outside
        // the timed set, then time as many rows as fit the budget.
        const probe = Math.max(1, Math.min(20, Math.floor(count / 10)));
        const p = all.slice(all.length - probe);
        const t0 = performance.now();
        await save({ data: values.subarray(0, probe * cols), shape: [probe, cols] }, { indices: p });
        const perRow = (performance.now() - t0) / 1000 / probe;
        const fit = Math.floor(job.budgetSeconds / perRow);
        if (fit < count) {
          capped = { done: Math.max(fit, 1), of: count, unit: "rows", estimatedFullSeconds: perRow * count };
          count = capped.done;
        }
      }
      const indices = all.slice(0, count);
      const data = { data: values.subarray(0, count * cols), shape: [count, cols] };
      // A capped run has spent its budget: no repeats.
      const t = await repeated(capped ? { ...job, repeats: 1 } : job, () => save(data, { indices }), { fresh: false });
      return { ...t, bytes: count * cols * 8, rows: count, capped };
    }
    case "convert-flat": {
      const values = Array.from(readRows(job.dataFile, 0, Math.ceil(job.count / cols), cols).subarray(0, job.count));
      const save = makeSaver(container, "overwrite");
      const t = await repeated(job, () => save(values, opts));
      return { ...t, bytes: job.count * 8 };
    }
    case "convert-nested": {
      const flat = readRows(job.dataFile, 0, job.rows, cols);
      const rows = Array.from({ length: job.rows }, (_, r) => Array.from(flat.subarray(r * cols, (r + 1) * cols)));
      const save = makeSaver(container, "overwrite");
      const t = await repeated(job, () => save(rows, opts));
      return { ...t, bytes: job.rows * cols * 8 };
    }
    default:
      throw new Error(`unknown job kind '${job.kind}'`);
  }
}

const results = [];
for (const job of jobs) {
  await warmUp(job);
  results.push({ id: job.id, ...(await runJob(job)) });
}
console.log(JSON.stringify({ contender, results, maxRssKiB: process.resourceUsage().maxRSS }));
