// The runtime smoke program (scripts/runtime-smoke.mjs runs it under Node, Bun and
// Deno): portable ESM that uses only the package, zarrita and node: built-ins. It
// exits non-zero at the first check that fails; its last line of output is
// `smoke ok: <n> checks`.
//
//   <runtime> program.mjs OUT_DIR          every check below
//   <runtime> program.mjs OUT_DIR denied   print {hasNative, code, message} of a save as JSON
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DatasetNotFoundError, HAS_NATIVE, TaskManager, ZarrSaver, ZarrSaverError } from "zarr-saver";
import * as zarr from "zarrita";

const [out, mode] = process.argv.slice(2);
if (!out) throw new Error("usage: program.mjs OUT_DIR [denied]");

if (mode === "denied") {
  try {
    new ZarrSaver(join(out, "denied.zarr")).saveSync([1]);
    console.log(JSON.stringify({ hasNative: HAS_NATIVE, code: null, message: "the save succeeded" }));
  } catch (err) {
    console.log(JSON.stringify({ hasNative: HAS_NATIVE, code: err.code ?? null, message: String(err.message) }));
  }
  process.exit(0);
}

let checks = 0;
function check(name, ok, detail) {
  if (!ok) {
    console.error(`FAIL ${name}: ${detail}`);
    process.exit(1);
  }
  checks += 1;
  console.log(`ok   ${name}`);
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// zarrita reads through a store of two lines: our writer, an independent reader.
const fileStore = (root) => ({
  async get(key) {
    try {
      return new Uint8Array(await readFile(join(root, key)));
    } catch (err) {
      if (err.code === "ENOENT") return undefined;
      throw err;
    }
  },
});
async function readBack(root, path) {
  const array = await zarr.open(zarr.root(fileStore(root)).resolve(path), { kind: "array" });
  const { data, shape } = await zarr.get(array);
  return { values: Array.from(data), shape, dtype: array.dtype };
}

check("the native core loaded", HAS_NATIVE === true, `HAS_NATIVE is ${HAS_NATIVE}`);

// The README's quickstart: create, append, append a typed array.
const root = join(out, "results.zarr");
const saver = new ZarrSaver(root, { datasetName: "experiment_1" });
const first = await saver.save([1, 2, 3, 4, 5]);
await saver.save([6, 7]);
const third = await saver.save(new Float64Array([8, 9]));
check(
  "quickstart: create, then two appends",
  first.created === true && same(third.shape, [9]) && third.dtype === "float64",
  JSON.stringify([first, third]),
);

// saveSync, a lossless cast from float32 into the stored float64.
const sync = saver.saveSync(new Float32Array([10, 11]));
check("saveSync appends", same(sync.shape, [11]) && same(sync.region, [[9, 11]]), JSON.stringify(sync));

const read = await readBack(root, "experiment_1");
check(
  "the appends read back with zarrita",
  same(read.shape, [11]) && read.dtype === "float64" && same(read.values, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
  JSON.stringify(read),
);

// A TaskManager run in two worker threads, saved in item order every 100 results.
const items = Array.from({ length: 1000 }, (_, i) => i);
const tm = new TaskManager(new URL("./square-task.mjs", import.meta.url), { workers: 2 });
const summary = await tm.submitTasks(items, {
  saver: new ZarrSaver(root, { datasetName: "squares" }),
  saveInterval: 100,
  chunkSize: 50,
});
const squares = await readBack(root, "squares");
check(
  "TaskManager in worker threads: every result saved in item order",
  summary.items === 1000 && same(squares.shape, [1000]) && squares.values.every((v, i) => v === i * i),
  JSON.stringify({ summary, shape: squares.shape, head: squares.values.slice(0, 5) }),
);

// A coded error: update of a dataset that does not exist.
let caught;
try {
  await new ZarrSaver(root, { datasetName: "missing", approach: "update" }).save([1], { indices: [0] });
} catch (err) {
  caught = err;
}
check(
  "a coded error: update of a missing dataset",
  caught instanceof DatasetNotFoundError && caught instanceof ZarrSaverError && caught.code === "ERR_ZARR_NOT_FOUND",
  `${caught?.name} ${caught?.code} ${caught?.message}`,
);

console.log(`smoke ok: ${checks} checks`);
