// Pipeline: a CPU-bound task over 100,000 items in 2 worker threads, results
// saved in item order every 1,000 results to a Zarr array while computing goes
// on. Run with `node examples/pipeline.mjs [results.zarr] [items] [workers]`
// after `npm install` (which builds dist/ and the native core).
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { TaskManager, ZarrSaver } from "zarr-saver";
import LogisticMapTask from "./pipeline-task.mjs";

const filePath = process.argv[2] ?? "results.zarr";
const items = Number(process.argv[3] ?? 100_000);
const workers = Number(process.argv[4] ?? 2);
const datasetName = "pipeline/features";

// Start fresh each run: the saver appends, and this dataset belongs to the example.
rmSync(join(filePath, datasetName), { recursive: true, force: true });

// One thread, no saving, on a sample: the baseline the workers are measured against.
const sample = Math.min(items, 10_000);
const task = new LogisticMapTask();
let t = performance.now();
for (let i = 0; i < sample; i++) task.processItem(i);
const sequentialRate = sample / ((performance.now() - t) / 1000);

const saver = new ZarrSaver(filePath, { datasetName });
const tm = new TaskManager(new URL("./pipeline-task.mjs", import.meta.url), { workers });
let nextLog = items / 4;
t = performance.now();
const summary = await tm.submitTasks(
  Array.from({ length: items }, (_, i) => i),
  {
    saver,
    saveInterval: 1_000,
    chunkSize: 100,
    saveOptions: { chunks: [10_000, 4], dimensionNames: ["item", "feature"] },
    // A bar is drawn on stderr when it is a terminal; this callback runs either way
    // (after every chunk computed and every save), here logging each quarter.
    onProgress: ({ done, total, saved }) => {
      if (process.stderr.isTTY || done < nextLog) return;
      console.log(`  ${done}/${total} computed, ${saved} saved`);
      nextLog += total / 4;
    },
  },
);
const seconds = (performance.now() - t) / 1000;

const meta = JSON.parse(readFileSync(join(filePath, datasetName, "zarr.json"), "utf8"));
const rate = summary.items / seconds;
console.log(
  `${summary.items.toLocaleString("en-US")} items in ${workers} worker threads: ${seconds.toFixed(2)} s, ${Math.round(rate).toLocaleString("en-US")} items/s`,
);
console.log(
  `  one thread, no saving: ${Math.round(sequentialRate).toLocaleString("en-US")} items/s (speed-up ${(rate / sequentialRate).toFixed(2)}x)`,
);
console.log(
  `  ${summary.saves} saves of up to 1,000 rows, ${(summary.saveMs / 1000).toFixed(2)} s inside save (overlapping the tasks), ` +
    `${(summary.stalledMs / 1000).toFixed(2)} s paused for the saver`,
);
console.log(`  ${filePath}/${datasetName}: shape ${JSON.stringify(meta.shape)}, dtype ${meta.data_type}`);
