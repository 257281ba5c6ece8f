// A child writer of the portable suite. argv:
//   batches <root> <dataset> <writer> <count>: append `count` batches, then exit;
//   loop <root> <dataset> <writer>: append until killed, telling the parent after
//   each save resolved (IPC), so a told batch is one the dataset must hold.
// Batch b of writer w: 1 to 5 rows [w, b, j].
import { ZarrSaver } from "zarr-saver";

const [mode, root, datasetName, writer, count] = process.argv.slice(2);
const w = Number(writer);
const rows = (b) => Array.from({ length: 1 + ((w * 31 + b * 7) % 5) }, (_, j) => [w, b, j]);
const saver = new ZarrSaver(root, { datasetName });
const last = mode === "loop" ? Number.POSITIVE_INFINITY : Number(count);
for (let b = 0; b < last; b++) {
  await saver.save(rows(b), { chunks: [4, 3] });
  if (mode === "loop") await new Promise((resolve) => process.send(b, resolve));
}
