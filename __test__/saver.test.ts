import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { packData } from "../src/convert.js";
import * as api from "../src/index.js";
import { DatasetNotFoundError, HAS_NATIVE, IndicesRequiredError, slice, ZarrSaver } from "../src/index.js";
import { readValues, readZarrita } from "./helpers/read.js";
import { tempDir } from "./helpers/tmp.js";

const ROOT = join(import.meta.dirname, "..");

describe("ZarrSaver behaviours of the Python saver it mirrors", () => {
  it("append creates, then grows along axis 0", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, { datasetName: "d" });
    const first = await saver.save([1, 2, 3, 4, 5]);
    expect(first).toEqual({ shape: [5], dtype: "float64", region: [[0, 5]], created: true });
    const second = await saver.save([6, 7]);
    expect(second).toEqual({ shape: [7], dtype: "float64", region: [[5, 7]], created: false });
    expect(await readValues(dir, "d")).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("overwrite replaces with a shorter array of another dtype", async () => {
    const dir = tempDir();
    await new ZarrSaver(dir, "d", "append").save([1, 2, 3, 4, 5]);
    const result = await new ZarrSaver(dir, "d", "overwrite").save(Int16Array.of(9, 8));
    expect(result).toMatchObject({ shape: [2], dtype: "int16", created: true });
    const read = await readZarrita(dir, "d");
    expect(read.dtype).toBe("int16");
    expect(Array.from(read.data)).toEqual([9, 8]);
  });

  it("update [99, 99] at [1, 2] of [1..5] gives [1, 99, 99, 4, 5]", async () => {
    const dir = tempDir();
    await new ZarrSaver(dir, "d").save([1, 2, 3, 4, 5]);
    await new ZarrSaver(dir, "d", "update").save([99, 99], { indices: [1, 2] });
    expect(await readValues(dir, "d")).toEqual([1, 99, 99, 4, 5]);
  });

  it("update of an unknown dataset rejects with DatasetNotFoundError", async () => {
    const dir = tempDir();
    await expect(new ZarrSaver(dir, "nope", "update").save([1], { indices: [0] })).rejects.toBeInstanceOf(DatasetNotFoundError);
  });

  it("update without indices rejects with IndicesRequiredError", async () => {
    const dir = tempDir();
    await new ZarrSaver(dir, "d").save([1, 2]);
    await expect(new ZarrSaver(dir, "d", "update").save([1])).rejects.toBeInstanceOf(IndicesRequiredError);
  });

  it("takes a file:// URL (string or URL object) as filePath", async () => {
    const dir = tempDir();
    await new ZarrSaver(pathToFileURL(dir).href, "d").save([1, 2]);
    await new ZarrSaver(pathToFileURL(dir), "d").save([3]);
    expect(await readValues(dir, "d")).toEqual([1, 2, 3]);
  });

  it("accepts the positional constructor and trims/lower-cases the approach", () => {
    const saver = new ZarrSaver("x.zarr", "name", "  UPDATE ");
    expect([saver.filePath, saver.datasetName, saver.approach]).toEqual(["x.zarr", "name", "update"]);
    expect(new ZarrSaver("x.zarr").datasetName).toBe("dataset");
    expect(new ZarrSaver("x.zarr").approach).toBe("append");
  });
});

describe("data forms", () => {
  it("nested numbers, arrays of typed arrays and strided ndarrays become the same N-d array", async () => {
    const dir = tempDir();
    const rows = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    await new ZarrSaver(dir, "nested").save(rows);
    await new ZarrSaver(dir, "typed_rows").save(rows.map((r) => Float64Array.from(r)));
    // The transpose of a 3x2 C-order buffer, described by strides.
    await new ZarrSaver(dir, "strided").save({ data: Float64Array.of(1, 4, 2, 5, 3, 6), shape: [2, 3], stride: [1, 2] });
    for (const name of ["nested", "typed_rows", "strided"]) {
      const read = await readZarrita(dir, name);
      expect(read.shape).toEqual([2, 3]);
      expect(Array.from(read.data)).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it("keeps typed-array dtypes, picks int64/uint64 for bigints, bool for booleans", async () => {
    const dir = tempDir();
    const cases: [string, api.SaveData, string][] = [
      ["f32", Float32Array.of(0.5, 1.5), "float32"],
      ["u16", Uint16Array.of(1, 65535), "uint16"],
      ["i64", [1n, -(2n ** 63n)], "int64"],
      ["u64", [1n, 2n ** 64n - 1n], "uint64"],
      ["bool", [true, false, true], "bool"],
      ["buf", Buffer.from([1, 2, 3]), "uint8"],
    ];
    for (const [name, data, dtype] of cases) {
      const result = await new ZarrSaver(dir, name).save(data);
      expect(result.dtype).toBe(dtype);
      expect((await readZarrita(dir, name)).dtype).toBe(dtype);
    }
    expect(await readValues(dir, "u64")).toEqual([1n, 2n ** 64n - 1n]);
    expect(await readValues(dir, "bool")).toEqual([true, false, true]);
  });

  it("casts numbers to a requested dtype when no value changes", async () => {
    const dir = tempDir();
    const result = await new ZarrSaver(dir, "d").save([1, 2, 255], { dtype: "uint8" });
    expect(result.dtype).toBe("uint8");
    await new ZarrSaver(dir, "d").save([7]); // later numbers cast to the stored uint8
    expect(await readValues(dir, "d")).toEqual([1, 2, 255, 7]);
  });

  it("packs any rectangular nesting of numbers to its flat C-order values (property)", () => {
    const shapes = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(shapes, fc.double(), (shape, seed) => {
        const total = shape.reduce((a, b) => a * b, 1);
        const flat = Array.from({ length: total }, (_, i) => seed + i);
        const nest = (offset: number, depth: number): unknown => {
          if (depth === shape.length) return flat[offset];
          const size = shape.slice(depth + 1).reduce((a, b) => a * b, 1);
          return Array.from({ length: shape[depth] as number }, (_, i) => nest(offset + i * size, depth + 1));
        };
        const root = shape.length === 1 ? flat : (nest(0, 0) as unknown[]);
        const packed = packData(root);
        expect(packed.shape).toEqual(shape);
        expect(Array.from(new Float64Array(packed.bytes?.buffer as ArrayBuffer))).toEqual(flat);
      }),
    );
  });
});

describe("update index forms", () => {
  it("takes a number, negative positions, slices with steps and orthogonal { axes }", async () => {
    const dir = tempDir();
    const grid = Array.from({ length: 6 }, (_, r) => Array.from({ length: 4 }, (_, c) => r * 10 + c));
    await new ZarrSaver(dir, "g").save(grid, { chunks: [4, 3] });
    const up = new ZarrSaver(dir, "g", "update");
    await up.save([[-1, -1, -1, -1]], { indices: 0 });
    await up.save([[-5, -5, -5, -5]], { indices: [-1] });
    await up.save([[7], [7]], { indices: { axes: [slice(1, 5, 2), [2]] } });
    await up.save([[8, 9]], { indices: { axes: [[4], [3, 0]] } });
    const expected = grid.map((r) => [...r]);
    expected[0] = [-1, -1, -1, -1];
    expected[5] = [-5, -5, -5, -5];
    (expected[1] as number[])[2] = 7;
    (expected[3] as number[])[2] = 7;
    (expected[4] as number[])[3] = 8;
    (expected[4] as number[])[0] = 9;
    expect(await readValues(dir, "g")).toEqual(expected.flat());
  });

  it("accepts the positional save(data, indices) form", async () => {
    const dir = tempDir();
    await new ZarrSaver(dir, "d").save([1, 2, 3]);
    await new ZarrSaver(dir, "d", "update").save([5], [2]);
    expect(await readValues(dir, "d")).toEqual([1, 2, 5]);
  });
});

describe("concurrency and threads", () => {
  it("100 un-awaited saves on one saver append 100 whole batches in call order", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, { datasetName: "d" });
    const saves = Array.from({ length: 100 }, (_, b) => saver.save([[b, b, b]], { chunks: [7, 3] }));
    const results = await Promise.all(saves);
    expect(results.map((r) => r.region[0])).toEqual(Array.from({ length: 100 }, (_, b) => [b, b + 1]));
    expect(await readValues(dir, "d")).toEqual(Array.from({ length: 100 }, (_, b) => [b, b, b]).flat());
  });

  it("small appends queued behind a large one wait for it, though they would run on the JS thread", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, { datasetName: "d" });
    // 200,000 x 3 float64 (4.8 MB): off the JS thread; each small one alone would run inline.
    const large = new Float64Array(600_000).fill(-1);
    const saves = [saver.save({ data: large, shape: [200_000, 3] }, { chunks: [4096, 3] })];
    for (let b = 0; b < 5; b++) saves.push(saver.save([[b, b, b]], { chunks: [4096, 3] }));
    const settled: number[] = [];
    saves.forEach((save, i) => void save.then(() => settled.push(i)));
    const results = await Promise.all(saves);
    expect(settled).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.map((r) => r.region[0])).toEqual([
      [0, 200_000],
      ...Array.from({ length: 5 }, (_, b) => [200_000 + b, 200_001 + b]),
    ]);
    const values = (await readValues(dir, "d")) as number[];
    expect(values.slice(600_000)).toEqual(Array.from({ length: 5 }, (_, b) => [b, b, b]).flat());
  });

  it("keeps the event loop running while a large save encodes", async () => {
    const dir = tempDir();
    const data = new Float64Array(4_000_000).map((_, i) => Math.sin(i));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const pending = new ZarrSaver(dir, "big", "overwrite").save(data, { compressor: new api.Zstd({ level: 9 }) });
    await new Promise((r) => setTimeout(r, 20));
    const ticksWhileSaving = ticks;
    await pending;
    clearInterval(timer);
    expect(ticksWhileSaving).toBeGreaterThan(0);
  });

  it("saveSync and save write identical arrays, with any thread count", async () => {
    const dir = tempDir();
    const data = { data: Int32Array.from({ length: 3000 }, (_, i) => i * 7), shape: [1000, 3] };
    new ZarrSaver(dir, { datasetName: "sync", threads: 1 }).saveSync(data, { chunks: [64, 3] });
    await new ZarrSaver(dir, { datasetName: "async", threads: 3 }).save(data, { chunks: [64, 3] });
    expect(await readValues(dir, "sync")).toEqual(await readValues(dir, "async"));
    expect(readFileSync(join(dir, "sync", "zarr.json"), "utf8")).toBe(readFileSync(join(dir, "async", "zarr.json"), "utf8"));
  });

  it("an options object changed between saves takes effect (requests are kept converted by their content)", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, { datasetName: "d" });
    const options: { axis?: number } = {};
    saver.saveSync([[1, 2]], options);
    options.axis = 1;
    expect(saver.saveSync([[3]], options)).toMatchObject({
      shape: [1, 3],
      region: [
        [0, 1],
        [2, 3],
      ],
    });
    options.axis = 0;
    expect((await saver.save([[4, 5, 6]], options)).shape).toEqual([2, 3]);
    expect(await readValues(dir, "d")).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("more distinct requests than a destination keeps converted still save as asked", async () => {
    const dir = tempDir();
    const saver = new ZarrSaver(dir, { datasetName: "d" });
    for (let k = 0; k < 40; k++) {
      const threads = (k % 20) + 1;
      const result = k % 2 === 0 ? saver.saveSync([k], { threads }) : await saver.save([k], { threads });
      expect(result.region).toEqual([[k, k + 1]]);
    }
    expect(await readValues(dir, "d")).toEqual(Array.from({ length: 40 }, (_, k) => k));
  });
});

describe("package surface", () => {
  it("exports exactly the public API", () => {
    expect(Object.keys(api).sort()).toMatchInlineSnapshot(`
      [
        "Blosc",
        "ConflictError",
        "CorruptMetadataError",
        "DATA_TYPES",
        "DatasetNotFoundError",
        "DtypeMismatchError",
        "GZip",
        "GroupSaver",
        "HAS_NATIVE",
        "IndicesRequiredError",
        "InternalError",
        "InvalidArgumentError",
        "InvalidDataError",
        "NativeUnavailableError",
        "OsError",
        "OutOfBoundsError",
        "QueueUnavailableError",
        "ShapeMismatchError",
        "StoreError",
        "TaskFailedError",
        "TaskManager",
        "UnsupportedError",
        "ZarrSaver",
        "ZarrSaverError",
        "Zstd",
        "slice",
        "startWorker",
      ]
    `);
    expect(HAS_NATIVE).toBe(true);
  });

  it("works through require() and import of the built package", () => {
    const script = `
      const { ZarrSaver } = require("zarr-saver");
      const r = new ZarrSaver(process.argv[1], "cjs").saveSync([1, 2]);
      import("zarr-saver").then((m) => console.log(JSON.stringify([r.shape, typeof m.ZarrSaver])));`;
    const out = execFileSync(process.execPath, ["-e", script, tempDir()], { cwd: ROOT, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual([[2], "function"]);
  });

  it("reports a missing native core with NativeUnavailableError and how to build it", () => {
    const pkg = tempDir();
    cpSync(join(ROOT, "dist"), join(pkg, "dist"), { recursive: true });
    writeFileSync(join(pkg, "package.json"), readFileSync(join(ROOT, "package.json")));
    mkdirSync(join(pkg, "out"));
    const script = `
      const m = require("./dist/index.cjs");
      try { new m.ZarrSaver("out").saveSync([1]); } catch (e) {
        console.log(JSON.stringify([m.HAS_NATIVE, e.name, e.code, e instanceof m.ZarrSaverError, e.message]));
      }`;
    const out = execFileSync(process.execPath, ["-e", script], { cwd: pkg, encoding: "utf8" });
    const [hasNative, name, code, isBase, message] = JSON.parse(out);
    expect([hasNative, name, code, isBase]).toEqual([false, "NativeUnavailableError", "ERR_ZARR_NATIVE_UNAVAILABLE", true]);
    expect(message).toContain("npm run build:native");
  });
});
