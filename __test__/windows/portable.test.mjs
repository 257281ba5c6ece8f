// The portable suite: what the vitest suite checks of the local store (saves, errors,
// the commit protocol, crashes, concurrent writers, group saves, the pipeline), in
// plain node:test with no shell, Python, strace or Unix signal, so that the Windows
// build runs it under the Windows node.exe (`npm run test:windows`). It runs on Linux
// too: `node --test __test__/windows/`.
//
// Kills are `child.kill()`: SIGTERM on Unix, TerminateProcess on Windows; neither
// lets the writer run any cleanup.
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import FileSystemStore from "@zarrita/storage/fs";
import {
  DatasetNotFoundError,
  GroupSaver,
  IndicesRequiredError,
  InvalidDataError,
  ShapeMismatchError,
  TaskManager,
  ZarrSaver,
  ZarrSaverError,
} from "zarr-saver";
import * as zarr from "zarrita";

const HERE = dirname(fileURLToPath(import.meta.url));
const WRITER = join(HERE, "portable-writer.mjs");
const SQUARE = new URL("./portable-square-task.mjs", import.meta.url);

// The loader beside the package's package.json (self-reference finds it from either
// place this file runs), for the one test hook it has: waiting for the files that
// saves displaced to be removed in the background.
const require = createRequire(import.meta.url);
const binding = require(join(dirname(require.resolve("zarr-saver/package.json")), "index.cjs"));

const made = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "zarr-saver-portable-"));
  made.push(dir);
  return dir;
}

async function read(root, path) {
  const arr = await zarr.open(zarr.root(new FileSystemStore(root)).resolve(path), { kind: "array" });
  const chunk = await zarr.get(arr);
  return { shape: chunk.shape, values: Array.from(chunk.data), dtype: arr.dtype };
}

/** Every entry below `root` whose name marks it as the saver's own (temp or lock). */
function saverEntries(root, prefix) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name.startsWith(prefix)) out.push(path);
      else if (statSync(path).isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

/** Temp entries left once this process's background removals are done. */
function tempEntries(root) {
  binding.settleFiles();
  return saverEntries(root, ".zarr-saver-tmp-");
}

describe("saver", () => {
  test("append creates, then appends along axis 0", async () => {
    const root = tempDir();
    const saver = new ZarrSaver(root, { datasetName: "a" });
    await saver.save([1, 2, 3]);
    const result = await saver.save([4, 5]);
    assert.deepEqual(result.shape, [5]);
    assert.deepEqual((await read(root, "a")).values, [1, 2, 3, 4, 5]);
    saver.saveSync([6]);
    assert.deepEqual((await read(root, "a")).values, [1, 2, 3, 4, 5, 6]);
  });

  test("2-d appends across chunk boundaries keep every row", async () => {
    const root = tempDir();
    const saver = new ZarrSaver(root, { datasetName: "g/rows" });
    const rows = (k, n) => Array.from({ length: n }, (_, j) => [k, j, k * 100 + j]);
    await saver.save(rows(0, 7), { chunks: [4, 3] });
    await saver.save(rows(1, 9));
    await saver.save(rows(2, 1));
    const { shape, values } = await read(root, "g/rows");
    assert.deepEqual(shape, [17, 3]);
    assert.deepEqual(values.slice(-3), [2, 0, 200]);
  });

  test("overwrite replaces the array whole, twice (the swap of a whole tree)", async () => {
    const root = tempDir();
    const saver = new ZarrSaver(root, { datasetName: "o", approach: "overwrite" });
    await saver.save([
      [1, 2],
      [3, 4],
    ]);
    await saver.save(new Int32Array([7, 8, 9]));
    assert.deepEqual(await read(root, "o"), { shape: [3], values: [7, 8, 9], dtype: "int32" });
    await saver.save([0.5]);
    assert.deepEqual((await read(root, "o")).values, [0.5]);
    assert.deepEqual(tempEntries(root), []);
  });

  test("update writes the selected rows, and only them", async () => {
    const root = tempDir();
    await new ZarrSaver(root, { datasetName: "u" }).save([0, 0, 0, 0, 0, 0], { chunks: [2] });
    const upd = new ZarrSaver(root, { datasetName: "u", approach: "update" });
    await upd.save([7, 8], { indices: [4, 1] });
    await upd.save([5], { indices: -1 });
    assert.deepEqual((await read(root, "u")).values, [0, 8, 0, 0, 7, 5]);
  });
});

describe("errors", () => {
  test("update of a missing dataset, and without indices", async () => {
    const root = tempDir();
    const upd = new ZarrSaver(root, { datasetName: "none", approach: "update" });
    await assert.rejects(upd.save([1], { indices: [0] }), DatasetNotFoundError);
    await new ZarrSaver(root, { datasetName: "none" }).save([1]);
    await assert.rejects(upd.save([1]), IndicesRequiredError);
  });

  test("bad data and a trailing-shape mismatch change nothing", async () => {
    const root = tempDir();
    const saver = new ZarrSaver(root, { datasetName: "s" });
    await assert.rejects(saver.save([]), InvalidDataError);
    assert.deepEqual(readdirSync(root), []);
    await saver.save([[1, 2]]);
    const err = await saver.save([[1, 2, 3]]).then(
      () => assert.fail("a mismatched append resolved"),
      (e) => e,
    );
    assert.ok(err instanceof ShapeMismatchError && err instanceof ZarrSaverError);
    assert.equal(err.code, "ERR_ZARR_SHAPE_MISMATCH");
    assert.deepEqual((await read(root, "s")).values, [1, 2]);
  });
});

describe("commit protocol", () => {
  test("no temp file outlives a save; lock files stay out of keys and listings", async () => {
    const root = tempDir();
    const saver = new ZarrSaver(root, { datasetName: "p/q" });
    for (let k = 0; k < 5; k++) await saver.save([[k, k]], { chunks: [2, 2] });
    const upd = new ZarrSaver(root, { datasetName: "p/q", approach: "update" });
    await upd.save([[9, 9]], { indices: [0] });
    assert.deepEqual(tempEntries(root), []);
    // Whatever lock files the platform keeps, zarrita lists and reads only the array.
    const group = await zarr.open(zarr.root(new FileSystemStore(root)).resolve("p"), { kind: "group" });
    assert.equal(group.path, "/p");
    assert.deepEqual((await read(root, "p/q")).shape, [5, 2]);
    for (const lock of saverEntries(root, ".zarr-saver-lock")) {
      assert.ok(statSync(lock).isFile(), `${lock} is a lock file`);
    }
  });

  test("a consolidated group lists its arrays and nothing else", async () => {
    const root = join(tempDir(), "ds.zarr");
    const gs = new GroupSaver(root);
    await gs.save({ t: [0], x: [[1, 2]] });
    await gs.save({ t: [1], x: [[3, 4]] });
    const doc = JSON.parse(readFileSync(join(root, "zarr.json"), "utf8"));
    const listed = Object.keys(doc.consolidated_metadata.metadata).sort();
    assert.deepEqual(listed, ["t", "x"]);
  });
});

describe("group saves", () => {
  test("every array of the group grows in one commit", async () => {
    const root = tempDir();
    const gs = new GroupSaver(root, { group: "" });
    for (let step = 0; step < 4; step++) {
      const result = await gs.save({ time: [step], temp: [[step, step + 0.5]] });
      assert.deepEqual(result.time.shape, [step + 1]);
      assert.deepEqual(result.temp.shape, [step + 1, 2]);
    }
    assert.deepEqual((await read(root, "time")).values, [0, 1, 2, 3]);
    assert.deepEqual((await read(root, "temp")).values.slice(-2), [3, 3.5]);
  });
});

describe("pipeline", () => {
  test("a TaskManager saves results in item order, in-process and in worker threads", async () => {
    const root = tempDir();
    const items = Array.from({ length: 50 }, (_, i) => i);
    const inline = new TaskManager(() => ({ processItem: (x) => x * 2 }));
    await inline.submitTasks(items, { saver: new ZarrSaver(root, { datasetName: "inline" }), saveInterval: 7 });
    assert.deepEqual(
      (await read(root, "inline")).values,
      items.map((x) => x * 2),
    );
    const threaded = new TaskManager(SQUARE, { workers: 2 });
    await threaded.submitTasks(items, { saver: new ZarrSaver(root, { datasetName: "threads" }), saveInterval: 9, chunkSize: 5 });
    assert.deepEqual(
      (await read(root, "threads")).values,
      items.map((x) => x * x),
    );
  });
});

/** A child writer (portable-writer.mjs); resolves its messages as they come. */
function startWriter(args) {
  const child = fork(WRITER, args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

/** Rows [writer, batch, j] hold whole batches, each once, in writer order. */
function batchProblems(shape, values) {
  const problems = [];
  const seen = new Map();
  for (let r = 0; r < shape[0]; r++) {
    const [w, b, j] = values.slice(r * 3, r * 3 + 3);
    const key = `${w}/${b}`;
    const at = seen.get(key) ?? { rows: 0, start: r };
    if (j !== at.rows || r !== at.start + at.rows) problems.push(`row ${r}: ${key} row ${j} out of place`);
    at.rows++;
    seen.set(key, at);
  }
  for (const [key, at] of seen) {
    const [w, b] = key.split("/").map(Number);
    if (at.rows !== 1 + ((w * 31 + b * 7) % 5)) problems.push(`batch ${key}: ${at.rows} rows`);
  }
  return { problems, batches: seen };
}

describe("concurrency", () => {
  test("4 processes appending to one dataset lose no row", async () => {
    const root = tempDir();
    const writers = [0, 1, 2, 3].map((w) => startWriter(["batches", root, "c", String(w), "10"]));
    const ends = await Promise.all(writers.map((w) => w.exited));
    for (const [i, end] of ends.entries()) assert.equal(end.code, 0, writers[i].stderr());
    const { shape, values } = await read(root, "c");
    const { problems, batches } = batchProblems(shape, values);
    assert.deepEqual(problems, []);
    assert.equal(batches.size, 40);
    assert.deepEqual(tempEntries(root), []);
  });
});

describe("crash safety", () => {
  test("6 writers killed mid-append: the next save leaves no debris and no torn batch", async () => {
    const root = tempDir();
    const KILLS = 3;
    for (let round = 0; round < KILLS; round++) {
      const writers = [0, 1, 2, 3, 4, 5].map((w) => {
        const writer = startWriter(["loop", root, "k", String(round * 10 + w)]);
        writer.told = [];
        writer.child.on("message", (b) => {
          writer.told.push(b);
        });
        return writer;
      });
      // Let every writer commit a few batches, then kill each at a varied moment.
      await new Promise((resolve) => {
        const check = setInterval(() => {
          if (writers.every((w) => w.told.length >= 2 || w.child.exitCode !== null)) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      for (const [i, w] of writers.entries()) {
        await new Promise((resolve) => setTimeout(resolve, (i * 7 + round * 3) % 11));
        w.child.kill();
      }
      await Promise.all(writers.map((w) => w.exited));
      // A writer that failed by itself would have printed why.
      for (const [i, w] of writers.entries()) assert.equal(w.stderr(), "", `writer ${i} failed`);
      // The next save recovers: it appends whole, and removes what the killed ones left.
      await new ZarrSaver(root, { datasetName: "k" }).save([[99, round, 0]]);
      const { shape, values } = await read(root, "k");
      const seen = new Set();
      for (let r = 0; r < shape[0]; r++) {
        const [w, b, j] = values.slice(r * 3, r * 3 + 3);
        if (w !== 99) seen.add(`${w}/${b}`);
        if (w === 99) assert.equal(j, 0);
      }
      const { problems } = batchProblems(
        [shape[0] - (round + 1), 3],
        values.filter((_, k) => values[k - (k % 3)] !== 99),
      );
      assert.deepEqual(problems, [], `round ${round}`);
      for (const [i, w] of writers.entries()) {
        for (const b of w.told)
          assert.ok(seen.has(`${round * 10 + i}/${b}`), `round ${round}: resolved batch ${round * 10 + i}/${b} missing`);
      }
      assert.deepEqual(tempEntries(root), [], `round ${round}: debris survived the next save`);
      assert.equal(existsSync(join(root, "k", "zarr.json")), true);
    }
  });
});
