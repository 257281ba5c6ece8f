// No option, stored file or panic takes the host process down (DESIGN.md, "Errors"):
// each case runs in a child process under a 3 GiB address-space limit and a time
// limit, must end in an error with a code, and must leave every byte as it was.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GroupSaver, ZarrSaver } from "../src/index.js";
import { runLimited } from "./helpers/limited.js";
import { snapshotTree, tempDir } from "./helpers/tmp.js";

const TIME_LIMIT_MS = 60_000;
const F64 = (values: number[], shape = [values.length]) => ({ dtype: "float64", values, shape });

interface Case {
  root: string;
  dataset: string;
  approach: "append" | "update" | "overwrite";
  data: ReturnType<typeof F64>;
  options?: Record<string, unknown>;
  saverOptions?: Record<string, unknown>;
  sync?: boolean;
  panic?: boolean;
}

/** Run `cases` in one limited child; every one must fail with `code`, the tree untouched. */
async function expectRefused(root: string, cases: Case[], code: string): Promise<string[]> {
  const before = snapshotTree(root);
  const run = await runLimited(cases, tempDir(), TIME_LIMIT_MS);
  expect(run, run.err).toMatchObject({ code: 0, signal: null, timedOut: false });
  expect(run.lines).toHaveLength(cases.length);
  for (const line of run.lines) {
    expect(line, JSON.stringify(line)).toMatchObject({ ok: false, code, unchanged: true });
  }
  expect(snapshotTree(root)).toEqual(before);
  return run.lines.map((l) => l.message as string);
}

function v3(shape: unknown, chunks: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    zarr_format: 3,
    node_type: "array",
    shape,
    data_type: "float64",
    chunk_grid: { name: "regular", configuration: { chunk_shape: chunks } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: 0,
    codecs: [{ name: "bytes", configuration: { endian: "little" } }],
    attributes: {},
    ...extra,
  };
}

function v2(shape: unknown, chunks: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { zarr_format: 2, shape, chunks, dtype: "<f8", compressor: null, fill_value: 0, order: "C", filters: null, ...extra };
}

/** A store whose dataset `d` has `text` as its metadata document `name`. */
function storeWith(name: string, text: string | Buffer): string {
  const root = tempDir();
  mkdirSync(join(root, "d"), { recursive: true });
  writeFileSync(join(root, "d", name), text);
  return root;
}

/** An append and an update (async and sync) of one row against dataset `d` of `root`. */
function appendAndUpdate(root: string, row: number[] = [1]): Case[] {
  const data = F64(row, row.length > 1 ? [1, row.length] : [1]);
  return [
    { root, dataset: "d", approach: "append", data },
    { root, dataset: "d", approach: "append", data, sync: true },
    { root, dataset: "d", approach: "update", data, options: { indices: [0] } },
  ];
}

describe("options over a bound are refused before anything is allocated or written", () => {
  it("a chunk of 2**40 elements is an InvalidArgumentError naming the chunks and their bytes", async () => {
    const root = tempDir();
    const chunks = [2 ** 40];
    const [blosc, plain] = await expectRefused(
      root,
      [
        { root, dataset: "d", approach: "append", data: F64([1, 2]), options: { chunks } },
        { root, dataset: "d", approach: "append", data: F64([1, 2]), options: { chunks, compressor: null } },
      ],
      "ERR_ZARR_INVALID_ARGUMENT",
    );
    for (const message of [blosc, plain]) {
      expect(message).toContain("chunks [1099511627776] of dataset 'd'");
      expect(message).toContain("8796093022208 bytes");
    }
    // Blosc's own limit is named first: no maxChunkBytes lifts it.
    expect(blosc).toContain("blosc");
    expect(plain).toContain("over maxChunkBytes 268435456");
  });

  it("a 2 GiB chunk is over the default bound, and over blosc's own limit whatever maxChunkBytes says", async () => {
    const root = tempDir();
    const make = (options: Record<string, unknown>, saverOptions?: Record<string, unknown>): Case => ({
      root,
      dataset: "d",
      approach: "overwrite",
      data: F64([1, 2]),
      options: { chunks: [2 ** 28], ...options },
      saverOptions,
    });
    const [overBound, overBlosc] = await expectRefused(
      root,
      [make({ compressor: null }), make({}, { maxChunkBytes: 2 ** 33 })],
      "ERR_ZARR_INVALID_ARGUMENT",
    );
    expect(overBound).toContain("2147483648 bytes per chunk");
    expect(overBound).toContain("over maxChunkBytes 268435456");
    expect(overBlosc).toContain("blosc compresses at most 2147483632 bytes");
    expect(overBlosc).toContain("2147483648 bytes");
  });

  it("a shard of 2**50 elements is refused, not allocated", async () => {
    const root = tempDir();
    const [message] = await expectRefused(
      root,
      [{ root, dataset: "d", approach: "append", data: F64([1, 2]), options: { chunks: [2 ** 20], shards: [2 ** 50] } }],
      "ERR_ZARR_INVALID_ARGUMENT",
    );
    expect(message).toContain("shards [1125899906842624]");
  });

  it("data of rank 10,000 is an InvalidDataError", async () => {
    const root = tempDir();
    await expectRefused(
      root,
      [{ root, dataset: "d", approach: "append", data: F64([1], Array(10_000).fill(1)) }],
      "ERR_ZARR_INVALID_DATA",
    );
  });

  it("maxChunkBytes must be a positive integer", async () => {
    const root = tempDir();
    for (const maxChunkBytes of [0, -1, 1.5, "1"]) {
      expect(() => new ZarrSaver(root, { maxChunkBytes } as never)).toThrow(/maxChunkBytes must be a positive integer/);
    }
  });

  it("a smaller maxChunkBytes refuses chunks the default allows, and a larger one lets them through", async () => {
    const root = tempDir();
    const data = new Float64Array(1024);
    await expect(new ZarrSaver(root, { maxChunkBytes: 4096 }).save(data, { chunks: [1024] })).rejects.toMatchObject({
      code: "ERR_ZARR_INVALID_ARGUMENT",
      message: expect.stringContaining("8192 bytes"),
    });
    const saved = await new ZarrSaver(root, { maxChunkBytes: 8192 }).save(data, { chunks: [1024] });
    expect(saved.shape).toEqual([1024]);
    // An existing array whose chunks exceed a later saver's bound: the stored metadata is refused.
    await expect(new ZarrSaver(root, { maxChunkBytes: 4096 }).save(data)).rejects.toMatchObject({
      code: "ERR_ZARR_CORRUPT",
    });
  });
});

describe("GroupSaver holds every array to maxChunkBytes", () => {
  it("names the array whose chunks are over the bound, and writes none of the group", async () => {
    const root = tempDir();
    const group = new GroupSaver(root, { group: "g", maxChunkBytes: 1024 });
    const save = group.save(
      { small: new Float64Array(8), large: new Float64Array(8) },
      { arrays: { large: { chunks: [256], compressor: null } } },
    );
    await expect(save).rejects.toMatchObject({
      code: "ERR_ZARR_INVALID_ARGUMENT",
      message: expect.stringMatching(/chunks \[256\] of dataset 'g\/large': 2048 bytes per chunk .*over maxChunkBytes 1024/),
    });
    expect(snapshotTree(root)).toEqual({});
  });
});

describe("stored metadata over a bound is a CorruptMetadataError", () => {
  it("chunk_shape [2**40, 2**20] in v3 and v2, on append and update", async () => {
    for (const [name, doc] of [
      ["zarr.json", v3([4, 4], [2 ** 40, 2 ** 20])],
      [".zarray", v2([4, 4], [2 ** 40, 2 ** 20])],
    ] as const) {
      const root = storeWith(name, JSON.stringify(doc));
      const messages = await expectRefused(root, appendAndUpdate(root, [1, 2, 3, 4]), "ERR_ZARR_CORRUPT");
      expect(messages[0]).toContain("[1099511627776, 1048576]");
      expect(messages[0]).toContain("'d'");
      expect(messages[0]).toContain("9223372036854775808 bytes");
    }
  });

  it("a shape of 2**64 - 6 is refused, and 2**63 - 6 grown past 2**63 - 1 is an OutOfBoundsError, never wrapped", async () => {
    const data = F64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const store = (length: string) =>
      storeWith("zarr.json", JSON.stringify(v3([0], [10])).replace('"shape":[0]', `"shape":[${length}]`));
    const past = store("18446744073709551610");
    const [corrupt] = await expectRefused(past, [{ root: past, dataset: "d", approach: "append", data }], "ERR_ZARR_CORRUPT");
    expect(corrupt).toContain("[18446744073709551610]");
    const near = store("9223372036854775802");
    const [outside] = await expectRefused(
      near,
      [{ root: near, dataset: "d", approach: "append", data }],
      "ERR_ZARR_OUT_OF_BOUNDS",
    );
    expect(outside).toContain("appending 10 rows along axis 0");
  });

  it("stored metadata of rank 10,000", async () => {
    const ones = Array(10_000).fill(1);
    const root = storeWith("zarr.json", JSON.stringify(v3(ones, ones)));
    await expectRefused(root, appendAndUpdate(root), "ERR_ZARR_CORRUPT");
  });
});

describe("hostile metadata documents are coded errors that change nothing", () => {
  const deep = `{"zarr_format":3,"node_type":"array","attributes":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
  const corrupt: [string, string | Buffer][] = [
    ["empty", ""],
    ["binary", Buffer.from([0, 159, 146, 150, 255, 1, 2, 3])],
    ["nested 100,000 deep", deep],
    ["a fill value of the wrong type", JSON.stringify(v3([4], [2], { fill_value: "not a number" }))],
    ["a chunk shape of rank zero", JSON.stringify(v3([4], []))],
    ["a chunk shape of the wrong rank", JSON.stringify(v3([4], [2, 2]))],
    ["a zero chunk extent", JSON.stringify(v3([4], [0]))],
  ];
  for (const [what, text] of corrupt) {
    it(`zarr.json: ${what}`, async () => {
      const root = storeWith("zarr.json", text);
      await expectRefused(root, appendAndUpdate(root), "ERR_ZARR_CORRUPT");
    });
  }

  const unsupported: [string, Record<string, unknown>][] = [
    ["an unknown codec", v3([4], [2], { codecs: [{ name: "bytes" }, { name: "no-such-codec" }] })],
    ["an unknown data type", v3([4], [2], { data_type: "float1024" })],
    ["a storage transformer", v3([4], [2], { storage_transformers: [{ name: "no-such-transformer" }] })],
  ];
  for (const [what, doc] of unsupported) {
    it(`zarr.json: ${what}`, async () => {
      const root = storeWith("zarr.json", JSON.stringify(doc));
      const before = snapshotTree(root);
      const run = await runLimited(appendAndUpdate(root), tempDir(), TIME_LIMIT_MS);
      expect(run, run.err).toMatchObject({ code: 0, signal: null, timedOut: false });
      for (const line of run.lines) {
        expect(line, JSON.stringify(line)).toMatchObject({ ok: false, unchanged: true });
        expect(["ERR_ZARR_UNSUPPORTED", "ERR_ZARR_CORRUPT"]).toContain(line.code);
      }
      expect(snapshotTree(root)).toEqual(before);
    });
  }

  it("zarr.json and .zarray that are directories", async () => {
    for (const name of ["zarr.json", ".zarray"]) {
      const root = tempDir();
      mkdirSync(join(root, "d", name), { recursive: true });
      const before = snapshotTree(root);
      const run = await runLimited(appendAndUpdate(root), tempDir(), TIME_LIMIT_MS);
      expect(run, run.err).toMatchObject({ code: 0, signal: null, timedOut: false });
      for (const line of run.lines) {
        expect(line, JSON.stringify(line)).toMatchObject({ ok: false, unchanged: true });
        expect(["ERR_ZARR_STORE", "ERR_ZARR_CORRUPT"]).toContain(line.code);
      }
      expect(snapshotTree(root)).toEqual(before);
    }
  });
});

describe("hostile chunk files are coded errors that change nothing", () => {
  /** A v3 float64 array of 4 rows in one chunk of 8 (blosc), then `damage` done to that chunk. */
  async function damaged(damage: (chunk: string) => void): Promise<string> {
    const root = tempDir();
    await new ZarrSaver(root, { datasetName: "d" }).save([1, 2, 3, 4], { chunks: [8] });
    damage(join(root, "d", "c", "0"));
    return root;
  }

  const damages: [string, (chunk: string) => void][] = [
    ["garbage", (chunk) => writeFileSync(chunk, Buffer.from("this is not a blosc buffer at all"))],
    ["truncated", (chunk) => writeFileSync(chunk, readFileSync(chunk).subarray(0, 20))],
  ];
  for (const [what, damage] of damages) {
    it(`a ${what} chunk`, async () => {
      const root = await damaged(damage);
      await expectRefused(root, appendAndUpdate(root), "ERR_ZARR_CORRUPT");
    });
  }

  it("a chunk that is a directory", async () => {
    const root = await damaged((chunk) => {
      rmSync(chunk);
      mkdirSync(chunk);
    });
    const before = snapshotTree(root);
    const run = await runLimited(appendAndUpdate(root), tempDir(), TIME_LIMIT_MS);
    expect(run, run.err).toMatchObject({ code: 0, signal: null, timedOut: false });
    for (const line of run.lines) {
      expect(line, JSON.stringify(line)).toMatchObject({ ok: false, unchanged: true });
      expect(["ERR_ZARR_STORE", "ERR_ZARR_CORRUPT"]).toContain(line.code);
    }
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("a panic of the core is an InternalError, and the process lives on", () => {
  it("on the calling thread, on the libuv pool and on rayon workers; then a save succeeds", async () => {
    const root = tempDir();
    await new ZarrSaver(root, { datasetName: "d" }).save([1, 2, 3, 4], { chunks: [2] });
    const before = snapshotTree(root);
    const many = F64(Array.from({ length: 64 }, (_, i) => i));
    const cases: Case[] = [
      { root, dataset: "d", approach: "append", data: F64([5]), sync: true, panic: true },
      { root, dataset: "d", approach: "append", data: F64([5]), panic: true },
      { root, dataset: "d", approach: "append", data: many, saverOptions: { threads: 2 }, panic: true },
      { root, dataset: "d", approach: "update", data: F64([9, 9]), options: { indices: [0, 3] }, panic: true },
    ];
    const run = await runLimited(
      [...cases, { root, dataset: "d", approach: "append", data: F64([5]) }],
      tempDir(),
      TIME_LIMIT_MS,
    );
    expect(run, run.err).toMatchObject({ code: 0, signal: null, timedOut: false });
    const panicked = run.lines.slice(0, cases.length);
    for (const line of panicked) {
      expect(line, JSON.stringify(line)).toMatchObject({ ok: false, code: "ERR_ZARR_INTERNAL", name: "InternalError" });
      // The message carries the panic's text and where in the core it happened.
      expect(line.message).toMatch(/ZARR_SAVER_TEST_PANIC=chunk.* at \S*write\/\S*\.rs:\d+/);
      expect(line.unchanged).toBe(true);
    }
    expect(run.lines[cases.length]).toMatchObject({ ok: true, shape: [5] });
    expect(snapshotTree(root)).not.toEqual(before);
  });
});
