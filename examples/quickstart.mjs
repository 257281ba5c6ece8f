// Quickstart: append, overwrite and update a dataset in results.zarr, then show
// what is on disk. Run with `npm run example` (after `npm install`).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Blosc, slice, ZarrSaver } from "zarr-saver";

const filePath = process.argv[2] ?? "results.zarr";

// 1. Append: the first save creates the array, later saves grow axis 0.
//    Simulated results: 20 batches of 5,000 rows x 16 features.
//    The first batch overwrites, so every run of the example starts fresh.
const fresh = new ZarrSaver(filePath, { datasetName: "experiment_1/features", approach: "overwrite" });
const appender = new ZarrSaver(filePath, { datasetName: "experiment_1/features" }); // approach "append"
for (let batch = 0; batch < 20; batch++) {
  const rows = new Float64Array(5000 * 16);
  for (let i = 0; i < rows.length; i++) rows[i] = Math.round(1000 * Math.sin(batch + i / 16)) / 1000;
  await (batch === 0 ? fresh : appender).save({ data: rows, shape: [5000, 16] });
}

// 2. Overwrite: replace a dataset whole, with its own dtype and codec.
const labels = new ZarrSaver(filePath, { datasetName: "experiment_1/labels", approach: "overwrite" });
await labels.save(
  Int32Array.from({ length: 100_001 }, (_, i) => i % 10),
  {
    compressor: new Blosc({ cname: "zstd", clevel: 9, shuffle: 2 }),
    dimensionNames: ["sample"],
    attributes: { description: "class of each sample" },
  },
);

// 3. Update: rewrite rows in place, by position list or slice.
const fixer = new ZarrSaver(filePath, { datasetName: "experiment_1/labels", approach: "update" });
await fixer.save([7, 7, 7], { indices: [0, 10, -1] });
await fixer.save(new Int32Array(10).fill(-1), { indices: slice(100, 110) });

// What is on disk, read from the Zarr metadata itself.
function sizeOf(dir) {
  return readdirSync(dir).reduce((sum, name) => {
    const path = join(dir, name);
    return sum + (statSync(path).isDirectory() ? sizeOf(path) : statSync(path).size);
  }, 0);
}
for (const name of ["experiment_1/features", "experiment_1/labels"]) {
  const dir = join(filePath, name);
  const meta = JSON.parse(readFileSync(join(dir, "zarr.json"), "utf8"));
  const codecs = meta.codecs.map((c) => (c.configuration ? `${c.name}(${JSON.stringify(c.configuration)})` : c.name));
  const raw = meta.shape.reduce((a, b) => a * b, 1) * (meta.data_type.endsWith("64") ? 8 : 4);
  const stored = sizeOf(dir);
  console.log(`${filePath}/${name}`);
  console.log(`  shape      ${JSON.stringify(meta.shape)}`);
  console.log(`  dtype      ${meta.data_type}`);
  console.log(`  chunks     ${JSON.stringify(meta.chunk_grid.configuration.chunk_shape)}`);
  console.log(`  codecs     ${codecs.join(" -> ")}`);
  console.log(
    `  size       ${(stored / 1024).toFixed(1)} KiB stored for ${(raw / 1024).toFixed(1)} KiB raw (${(raw / stored).toFixed(2)}x)`,
  );
}
