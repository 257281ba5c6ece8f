// Past one machine: two queue workers (started here with the package's command, as
// you would on two machines) and a submitter, all against the Redis server named on
// the command line. The workers write their jobs' results straight into the Zarr
// array; the submitter only hands out items. Run with
// `node examples/distributed.mjs redis://127.0.0.1:6379 [results.zarr] [items]`
// after `npm install` (bullmq is a dev dependency here; users install it themselves).
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { TaskManager, ZarrSaver } from "zarr-saver";

const [connection, filePath = "results.zarr", count = "20000"] = process.argv.slice(2);
if (connection === undefined) {
  console.error("usage: node examples/distributed.mjs redis://host:port [results.zarr] [items]");
  process.exit(2);
}
const items = Array.from({ length: Number(count) }, (_, i) => i);
const queue = "zarr-saver-example";
const datasetName = "distributed/features";
// Start fresh each run: the saver appends, and this dataset belongs to the example.
rmSync(join(filePath, datasetName), { recursive: true, force: true });

// The package's bin, `zarr-saver worker ...`; on a cluster: `npx zarr-saver worker ...` per machine.
const pkg = dirname(createRequire(import.meta.url).resolve("zarr-saver/package.json"));
const bin = join(pkg, JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).bin["zarr-saver"]);
const workers = [1, 2].map((n) => {
  const child = spawn(process.execPath, [bin, "worker", "--connection", connection, "--queue", queue, "--concurrency", "1"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  child.on("exit", (code) => console.log(`worker ${n} exited with code ${code}`));
  return child;
});

try {
  // Every worker imports the task module from this path: on a cluster, a shared or identical path.
  const tm = new TaskManager(new URL("./pipeline-task.mjs", import.meta.url), { queue: { connection, name: queue } });
  const summary = await tm.submitTasks(items, {
    saver: new ZarrSaver(resolve(filePath), { datasetName }),
    // A job covers whole chunks: 1,000 rows of 4 features make jobs of 1,000 items.
    saveOptions: { chunks: [1_000, 4], dimensionNames: ["item", "feature"] },
  });
  const seconds = summary.elapsedMs / 1000;
  console.log(
    `${summary.items.toLocaleString("en-US")} items on 2 worker processes: ${seconds.toFixed(2)} s, ` +
      `${Math.round(summary.items / seconds).toLocaleString("en-US")} items/s, ${summary.saves} writes`,
  );
  const meta = JSON.parse(readFileSync(join(filePath, datasetName, "zarr.json"), "utf8"));
  console.log(`  ${filePath}/${datasetName}: shape ${JSON.stringify(meta.shape)}, dtype ${meta.data_type}`);
} finally {
  // SIGTERM: each worker finishes its running job and exits 0.
  for (const w of workers) w.kill("SIGTERM");
}
