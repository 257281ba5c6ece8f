/**
 * Every error class (docs/usage.md, Errors) that can be triggered locally, each by
 * the input that should trigger it: the class, ZarrSaverError, the stable code,
 * a message naming the offending field or value, and, where a dataset existed,
 * a tree that is byte-for-byte what it was before the failed save. Both savers
 * refuse a bad option they share with one message, and neither prints a secret.
 *
 * Not covered: ConflictError needs a concurrent writer that wins every retry
 * (saves in one process are serialized; see the multi-process tests).
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it, vi } from "vitest";
import {
  CorruptMetadataError,
  DatasetNotFoundError,
  DtypeMismatchError,
  type ErrorCode,
  GroupSaver,
  type Indices,
  IndicesRequiredError,
  InvalidArgumentError,
  InvalidDataError,
  NativeUnavailableError,
  OutOfBoundsError,
  type SaveData,
  type SaveOptions,
  ShapeMismatchError,
  StoreError,
  slice,
  UnsupportedError,
  ZarrSaver,
  ZarrSaverError,
} from "../src/index.js";
import { loadedBinding } from "../src/native.js";
import { thrown } from "./helpers/thrown.js";
import { snapshotTree, tempDir } from "./helpers/tmp.js";

type ErrorClass = abstract new (...args: never[]) => ZarrSaverError;

function check(
  err: unknown,
  Class: ErrorClass,
  code: ErrorCode,
  fragments: readonly (string | RegExp)[],
  Base: ErrorClass = ZarrSaverError,
): void {
  expect(err).toBeInstanceOf(Class);
  expect(err).toBeInstanceOf(Base);
  expect(err).toBeInstanceOf(Error);
  const e = err as ZarrSaverError;
  expect(e.code).toBe(code);
  expect(e.name).toBe(Class.name);
  for (const f of fragments) {
    if (typeof f === "string") expect(e.message).toContain(f);
    else expect(e.message).toMatch(f);
  }
}

/** The reason `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, but the save resolved");
    },
    (err: unknown) => err,
  );
}

/** A container holding dataset `name`, created by `data` (+ options), and its tree before the failing save. */
async function existing(
  name: string,
  data: SaveData,
  options: SaveOptions = {},
): Promise<{ root: string; before: Record<string, string> }> {
  const root = tempDir("zarr-saver-errors-");
  await new ZarrSaver(root, { datasetName: name }).save(data, options);
  return { root, before: snapshotTree(root) };
}

describe("InvalidDataError: data that can't become an array; nothing is written", () => {
  const cases: [string, unknown, (string | RegExp)[]][] = [
    ["ragged nested arrays", [[1, 2], [3]], ["data[1]", "length 1", "expected 2", "ragged"]],
    ["a ragged row of typed arrays", [new Float64Array(2), new Float64Array(3)], ["data[1]", "ragged"]],
    ["mixed kinds [1, 'a']", [1, "a"], ["data[1]", "string", "mixed kinds"]],
    [
      "mixed kinds across rows",
      [
        [1, 2],
        [true, false],
      ],
      ["data[1][0]", "boolean"],
    ],
    ["a null element", [1, null, 3], ["data[1]", "null"]],
    ["an undefined element", [1, 2, undefined], ["data[2]", "undefined"]],
    ["an object element", [{ x: 1 }], ["data[0]", "object"]],
    ["a plain object as data", { x: 1 }, ["data", "object"]],
    ["empty data", [], ["data", "empty"]],
    ["an empty row", [[]], ["data[0]", "empty"]],
    ["an empty typed array", new Float64Array(0), ["data", "empty"]],
  ];

  it.each(cases)("save() rejects %s and leaves the dataset unchanged", async (_label, data, fragments) => {
    const { root, before } = await existing("d", [[1.5, 2.5]]);
    const err = await rejection(new ZarrSaver(root, { datasetName: "d" }).save(data as SaveData));
    check(err, InvalidDataError, "ERR_ZARR_INVALID_DATA", fragments);
    expect(snapshotTree(root)).toEqual(before);
  });

  it.each(cases.slice(0, 6))("saveSync() throws on %s and creates nothing", (_label, data, fragments) => {
    const root = tempDir("zarr-saver-errors-");
    check(
      thrown(() => new ZarrSaver(root).saveSync(data as SaveData)),
      InvalidDataError,
      "ERR_ZARR_INVALID_DATA",
      fragments,
    );
    expect(snapshotTree(root)).toEqual({});
  });
});

describe("DtypeMismatchError: a lossy cast is never silent", () => {
  // [stored dtype, data creating it, a batch spanning several chunks whose last value can't be stored, fragments]
  const many = (n: number) => Array.from({ length: n }, (_, i) => i);
  const cases: [string, SaveData, SaveOptions, SaveData, string[]][] = [
    ["1.5 into int32", [1, 2], { dtype: "int32" }, [...many(40), 1.5], ["1.5", "int32"]],
    ["300 into uint8", [1, 2], { dtype: "uint8" }, [...many(40), 300], ["300", "uint8"]],
    ["NaN into int64", [1n, 2n], {}, [...many(40), Number.NaN], ["NaN", "int64"]],
    ["2**53+1 (bigint) into float64", [0.5], {}, [...many(40).map(BigInt), 2n ** 53n + 1n], ["9007199254740993", "float64"]],
    ["0.1 into float32", new Float32Array([0.5]), {}, [...many(40), 0.1], ["0.1", "float32"]],
  ];

  it.each(cases)("save() rejects %s; the dataset is unchanged", async (_label, seed, options, bad, fragments) => {
    const { root, before } = await existing("d", seed, { ...options, chunks: [4] });
    const err = await rejection(new ZarrSaver(root, { datasetName: "d" }).save(bad));
    check(err, DtypeMismatchError, "ERR_ZARR_DTYPE_MISMATCH", fragments);
    expect(snapshotTree(root)).toEqual(before);
  });

  it.each(cases)("saveSync() throws on %s; the dataset is unchanged", async (_label, seed, options, bad, fragments) => {
    const { root, before } = await existing("d", seed, { ...options, chunks: [4] });
    check(
      thrown(() => new ZarrSaver(root, { datasetName: "d" }).saveSync(bad)),
      DtypeMismatchError,
      "ERR_ZARR_DTYPE_MISMATCH",
      fragments,
    );
    expect(snapshotTree(root)).toEqual(before);
  });

  it("a lossy cast at creation (dtype option) creates nothing", async () => {
    const root = tempDir("zarr-saver-errors-");
    const err = await rejection(new ZarrSaver(root).save([1, 2, 2.5], { dtype: "int32" }));
    check(err, DtypeMismatchError, "ERR_ZARR_DTYPE_MISMATCH", ["2.5", "int32"]);
    expect(snapshotTree(root)).toEqual({});
  });

  it("a dtype option that differs from the stored dtype names both", async () => {
    const { root, before } = await existing("d", [1.5]);
    const err = await rejection(new ZarrSaver(root, { datasetName: "d" }).save([2.5], { dtype: "float32" }));
    check(err, DtypeMismatchError, "ERR_ZARR_DTYPE_MISMATCH", ["float32", "float64"]);
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("ShapeMismatchError", () => {
  const rows = [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ];

  it("append with a different trailing shape (save and saveSync)", async () => {
    const { root, before } = await existing("m", rows);
    const saver = new ZarrSaver(root, { datasetName: "m" });
    check(await rejection(saver.save([[1, 2]])), ShapeMismatchError, "ERR_ZARR_SHAPE_MISMATCH", ["[1, 2]", "[3, 3]", "'m'"]);
    check(
      thrown(() => saver.saveSync([1, 2, 3])),
      ShapeMismatchError,
      "ERR_ZARR_SHAPE_MISMATCH",
      ["[3]", "[3, 3]"],
    );
    expect(snapshotTree(root)).toEqual(before);
  });

  const selections: [string, Indices, number[][], string[]][] = [
    ["a list of 2 positions", [0, 1], [[1, 2, 3]], ["[1, 3]", "[2, 3]"]],
    ["a slice of 2 rows", slice(0, 2), rows, ["[3, 3]", "[2, 3]"]],
    [
      "an orthogonal selection",
      {
        axes: [
          [0, 2],
          [0, 1],
        ],
      },
      rows.slice(0, 2),
      ["[2, 3]", "[2, 2]"],
    ],
  ];
  it.each(selections)("update whose data does not fit %s", async (_label, indices, data, fragments) => {
    const { root, before } = await existing("m", rows);
    const err = await rejection(new ZarrSaver(root, { datasetName: "m", approach: "update" }).save(data, { indices }));
    check(err, ShapeMismatchError, "ERR_ZARR_SHAPE_MISMATCH", fragments);
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("OutOfBoundsError: positions outside the array, checked before anything is written", () => {
  it.each([
    ["index 5 on length 5", 5, [0], ["indices", "5", "axis 0"]],
    ["index -6 on length 5", -6, [0], ["indices", "-6", "axis 0"]],
    ["a list whose last position is outside", [0, 1, 9], [0, 0, 0], ["indices", "9", "axis 0"]],
    ["a slice running past the end", slice(3, 9), [0, 0, 0, 0, 0, 0], ["indices", "9", "axis 0"]],
  ] as const)("%s", async (_label, indices, data, fragments) => {
    const { root, before } = await existing("five", [10, 11, 12, 13, 14], { chunks: [2] });
    const saver = new ZarrSaver(root, { datasetName: "five", approach: "update" });
    check(await rejection(saver.save([...data], { indices })), OutOfBoundsError, "ERR_ZARR_OUT_OF_BOUNDS", fragments);
    check(
      thrown(() => saver.saveSync([...data], { indices })),
      OutOfBoundsError,
      "ERR_ZARR_OUT_OF_BOUNDS",
      fragments,
    );
    expect(snapshotTree(root)).toEqual(before);
  });

  it("a position outside axis 1 of an orthogonal selection", async () => {
    const { root, before } = await existing("m", [[1, 2, 3]]);
    const err = await rejection(
      new ZarrSaver(root, { datasetName: "m", approach: "update" }).save([[0]], { indices: { axes: [0, [3]] } }),
    );
    check(err, OutOfBoundsError, "ERR_ZARR_OUT_OF_BOUNDS", ["3", "axis 1"]);
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("InvalidArgumentError", () => {
  it.each([
    ["[4, -1] on length 5 (the same row twice)", [4, -1], "4"],
    ["[1, 1]", [1, 1], "1"],
  ])("duplicate update indices %s", async (_label, indices, position) => {
    const { root, before } = await existing("five", [10, 11, 12, 13, 14]);
    const err = await rejection(new ZarrSaver(root, { datasetName: "five", approach: "update" }).save([0, 0], { indices }));
    check(err, InvalidArgumentError, "ERR_ZARR_INVALID_ARGUMENT", ["indices", `position ${position}`, "more than once"]);
    expect(snapshotTree(root)).toEqual(before);
  });

  it.each(["../x", "/abs", "a//b", "a\\b", "a/./b", "", "x\0y"])("dataset name %j is rejected at construction", (name) => {
    const root = tempDir("zarr-saver-errors-");
    const err = thrown(() => new ZarrSaver(root, { datasetName: name }));
    // Quoted as the core quotes it: JSON's escapes, but NUL as \0.
    check(err, InvalidArgumentError, "ERR_ZARR_INVALID_ARGUMENT", [
      "datasetName",
      JSON.stringify(name).replace("\\u0000", "\\0"),
    ]);
    check(
      thrown(() => new ZarrSaver(root, name)),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      ["datasetName"],
    );
    expect(snapshotTree(root)).toEqual({});
  });

  it.each([
    ["concurrency", { concurrency: 0 }],
    ["threads", { threads: 1.5 }],
    ["durable", { durable: "yes" }],
    ["storageOptions", { storageOptions: 5 }],
    ["icechunk.branch", { icechunk: { branch: "a/b" } }],
  ])("a bad %s is refused alike by ZarrSaver and GroupSaver", (field, options) => {
    const root = tempDir("zarr-saver-errors-");
    const one = thrown(() => new ZarrSaver(root, options as never));
    check(one, InvalidArgumentError, "ERR_ZARR_INVALID_ARGUMENT", [field]);
    expect((thrown(() => new GroupSaver(root, options as never)) as Error).message).toBe((one as Error).message);
    expect(snapshotTree(root)).toEqual({});
  });

  it("approach 'delete' is rejected at construction, in both constructor forms", () => {
    const fragments = ["approach", '"delete"', "append, overwrite, update"];
    check(
      thrown(() => new ZarrSaver("x.zarr", { approach: "delete" })),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      fragments,
    );
    check(
      thrown(() => new ZarrSaver("x.zarr", "d", "delete")),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      fragments,
    );
  });

  it("unknown option keys, in the constructor and in save (save and saveSync)", async () => {
    const root = tempDir("zarr-saver-errors-");
    const ctor = thrown(() => new ZarrSaver(root, { datasetname: "d" } as never));
    check(ctor, InvalidArgumentError, "ERR_ZARR_INVALID_ARGUMENT", ["'datasetname'", "datasetName"]);
    const saver = new ZarrSaver(root);
    const options = { chunk: [4] } as unknown as SaveOptions;
    check(await rejection(saver.save([1], options)), InvalidArgumentError, "ERR_ZARR_INVALID_ARGUMENT", ["'chunk'", "chunks"]);
    check(
      thrown(() => saver.saveSync([1], options)),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      ["'chunk'"],
    );
    expect(snapshotTree(root)).toEqual({});
  });

  it.each(["http://example.com/data.zarr", "https://example.com/data.zarr"])("filePath %s is read-only", (url) => {
    check(
      thrown(() => new ZarrSaver(url)),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      ["filePath", url, "read-only"],
    );
  });
});

describe("UnsupportedError", () => {
  it.each([
    ["a numcodecs compressor", { compressor: { id: "lzma" } }, "compressor"],
    ["a v3 compressor", { compressor: { name: "lzma", configuration: {} } }, "compressor"],
    ["a filter", { filters: [{ id: "lzma" }] }, "filters[0]"],
  ] as const)("unknown codec lzma as %s, no silent fallback", async (_label, options, field) => {
    const root = tempDir("zarr-saver-errors-");
    const saver = new ZarrSaver(root);
    check(await rejection(saver.save([1, 2], options)), UnsupportedError, "ERR_ZARR_UNSUPPORTED", [field, "lzma"]);
    check(
      thrown(() => saver.saveSync([1, 2], options)),
      UnsupportedError,
      "ERR_ZARR_UNSUPPORTED",
      [field, "lzma"],
    );
    expect(snapshotTree(root)).toEqual({});
  });

  it.each(["ftp://host/prefix.zarr", "webdav://host/x.zarr"])("a store scheme zarr-saver does not know: %s", (url) => {
    check(
      thrown(() => new ZarrSaver(url)),
      InvalidArgumentError,
      "ERR_ZARR_INVALID_ARGUMENT",
      ["filePath", "unknown scheme"],
    );
  });

  it("every object-store scheme the core knows is taken by the facade, plain and for Icechunk; others refused alike", () => {
    const native = loadedBinding();
    expect(native).toBeDefined();
    const schemes = native?.objectStoreSchemes() ?? [];
    expect(schemes).toEqual(expect.arrayContaining(["s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss"]));
    for (const scheme of schemes) {
      const url = `${scheme}://bucket/prefix.zarr`;
      expect(new ZarrSaver(url).filePath).toBe(url);
      expect(new ZarrSaver(url, { icechunk: {} }).filePath).toBe(url);
    }
    // The facade's refusal is the core's own: the same message a save would give.
    const facade = thrown(() => new ZarrSaver("s4://bucket/x.zarr")) as Error;
    const core = thrown(() => native?.checkObjectStoreUrl("s4://bucket/x.zarr")) as Error;
    expect(core.message).toContain(facade.message);
    for (const options of [{}, { icechunk: {} }]) {
      check(
        thrown(() => new ZarrSaver("s4://bucket/x.zarr", options)),
        InvalidArgumentError,
        "ERR_ZARR_INVALID_ARGUMENT",
        ["unknown scheme 's4://'", "s3a://", "abfs://"],
      );
    }
  });

  it("the message never contains credentials from the URL or storageOptions", async () => {
    // An endpoint nothing listens on: the save fails fast with a StoreError.
    const saver = new ZarrSaver("s3://AKIAEXAMPLE:url-secret-123@bucket/prefix.zarr", {
      storageOptions: {
        endpoint: "http://127.0.0.1:1",
        allowHttp: true,
        region: "us-east-1",
        accessKeyId: "AKIAEXAMPLE",
        secretAccessKey: "option-secret-456",
        sessionToken: "token-secret-789",
      },
    });
    const err = (await rejection(saver.save([1]))) as Error;
    check(err, StoreError, "ERR_ZARR_STORE", ["127.0.0.1:1"]);
    // Soft: report every leak at once (the message, and the saver's toJSON used by loggers).
    for (const secret of ["url-secret-123", "option-secret-456", "token-secret-789"]) {
      expect.soft(err.message).not.toContain(secret);
      expect.soft(JSON.stringify(saver)).not.toContain(secret);
    }
  });
});

describe("credentials in logs", () => {
  it("a saver printed by console.log or util.inspect shows no storageOptions secret, however deep", () => {
    const storageOptions = { region: "us-east-1", accessKeyId: "AKIAEXAMPLE", secretAccessKey: "option-secret-456" };
    for (const saver of [
      new ZarrSaver("s3://bucket/prefix.zarr", { storageOptions }),
      new GroupSaver("s3://bucket/prefix.zarr", { storageOptions }),
    ]) {
      expect(inspect(saver, { depth: Number.POSITIVE_INFINITY, showHidden: true, getters: true })).not.toContain(
        "option-secret-456",
      );
      expect(JSON.stringify(saver)).not.toContain("option-secret-456");
    }
  });
});

describe("CorruptMetadataError: existing metadata unreadable", () => {
  const cases: [string, string, string[]][] = [
    ["truncated JSON", '{"zarr_format": 3, "node_type": "arr', ["zarr.json", "JSON"]],
    [
      "a shape that is not a list",
      JSON.stringify({
        zarr_format: 3,
        node_type: "array",
        shape: "ten",
        data_type: "float64",
        chunk_grid: { name: "regular", configuration: { chunk_shape: [2] } },
        chunk_key_encoding: { name: "default" },
        fill_value: 0,
        codecs: [{ name: "bytes" }],
      }),
      ["'c'", "shape"],
    ],
  ];
  it.each(cases)("%s: append (save, saveSync) and update fail, files untouched", async (_label, text, fragments) => {
    const root = tempDir("zarr-saver-errors-");
    await new ZarrSaver(root, { datasetName: "c" }).save([1, 2, 3], { chunks: [2] });
    writeFileSync(join(root, "c", "zarr.json"), text);
    const before = snapshotTree(root);
    check(await rejection(new ZarrSaver(root, "c").save([4])), CorruptMetadataError, "ERR_ZARR_CORRUPT", fragments);
    check(
      thrown(() => new ZarrSaver(root, "c").saveSync([4])),
      CorruptMetadataError,
      "ERR_ZARR_CORRUPT",
      fragments,
    );
    const update = new ZarrSaver(root, { datasetName: "c", approach: "update" }).save([4], { indices: 0 });
    check(await rejection(update), CorruptMetadataError, "ERR_ZARR_CORRUPT", fragments);
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("DatasetNotFoundError and IndicesRequiredError (approach update)", () => {
  it("update of a missing dataset names it and creates nothing (save and saveSync)", async () => {
    const { root, before } = await existing("present", [1, 2, 3]);
    const saver = new ZarrSaver(root, { datasetName: "missing/ds", approach: "update" });
    check(await rejection(saver.save([1], { indices: 0 })), DatasetNotFoundError, "ERR_ZARR_NOT_FOUND", ["'missing/ds'"]);
    check(
      thrown(() => saver.saveSync([1], { indices: 0 })),
      DatasetNotFoundError,
      "ERR_ZARR_NOT_FOUND",
      ["'missing/ds'"],
    );
    expect(snapshotTree(root)).toEqual(before);
  });

  it("update without indices (save and saveSync)", async () => {
    const { root, before } = await existing("d", [1, 2, 3]);
    const saver = new ZarrSaver(root, { datasetName: "d", approach: "update" });
    const fragments = ["update", "indices", "'d'"];
    check(await rejection(saver.save([9])), IndicesRequiredError, "ERR_ZARR_INDICES_REQUIRED", fragments);
    check(
      thrown(() => saver.saveSync([9], {})),
      IndicesRequiredError,
      "ERR_ZARR_INDICES_REQUIRED",
      fragments,
    );
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("StoreError: I/O failures keep the OS error as cause", () => {
  /** Whether this process can write into a 0o555 directory (root can: chmod does not stop it). */
  const chmodIgnored = (() => {
    const dir = tempDir("zarr-saver-chmod-probe-");
    chmodSync(dir, 0o555);
    try {
      writeFileSync(join(dir, "probe"), "x");
      return true;
    } catch {
      return false;
    } finally {
      chmodSync(dir, 0o755);
    }
  })();

  it.skipIf(chmodIgnored)(
    "a read-only container (chmod 0o555) fails with EACCES; skipped when running as root, where chmod does not stop writes",
    async () => {
      const { root, before } = await existing("d", [1, 2, 3], { chunks: [2] });
      const dirs = [root, join(root, "d"), join(root, "d", "c")];
      for (const d of dirs) chmodSync(d, 0o555);
      try {
        const err = await rejection(new ZarrSaver(root, "d").save([4, 5, 6]));
        check(err, StoreError, "ERR_ZARR_STORE", [/permission denied/i]);
        expect((err as Error).cause).toMatchObject({ code: "EACCES" });
        check(
          thrown(() => new ZarrSaver(root, "d2").saveSync([1])),
          StoreError,
          "ERR_ZARR_STORE",
          [/permission denied/i],
        );
        expect(snapshotTree(root)).toEqual(before);
      } finally {
        for (const d of dirs) chmodSync(d, 0o755);
      }
    },
  );

  it("a parent group path that is a regular file fails with ENOTDIR (works as root too)", async () => {
    const root = tempDir("zarr-saver-errors-");
    mkdirSync(join(root, "c"));
    writeFileSync(join(root, "c", "a"), "not a group");
    const before = snapshotTree(root);
    const err = await rejection(new ZarrSaver(join(root, "c"), { datasetName: "a/b" }).save([1]));
    check(err, StoreError, "ERR_ZARR_STORE", ["a/b"]);
    expect((err as Error).cause).toMatchObject({ code: "ENOTDIR" });
    check(
      thrown(() => new ZarrSaver(join(root, "c"), { datasetName: "a/b" }).saveSync([1])),
      StoreError,
      "ERR_ZARR_STORE",
      ["a/b"],
    );
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe("NativeUnavailableError", () => {
  it("when the addon fails to load, HAS_NATIVE is false and save/saveSync say why and how to build it", async () => {
    // src/native.ts loads index.cjs through createRequire; make that load fail in a fresh module graph.
    vi.resetModules();
    vi.doMock("node:module", async (importOriginal) => ({
      ...(await importOriginal<typeof import("node:module")>()),
      createRequire: () => () => {
        throw new Error("libzarr-saver.node: cannot open shared object file");
      },
    }));
    try {
      const fresh = await import("../src/index.js");
      expect(fresh.HAS_NATIVE).toBe(false);
      const saver = new fresh.ZarrSaver(tempDir("zarr-saver-errors-"));
      const fragments = ["cannot open shared object file", "npm run build:native"];
      // The fresh module graph has its own classes: check against them, and the code against the contract.
      const [Class, Base] = [fresh.NativeUnavailableError, fresh.ZarrSaverError];
      check(await rejection(saver.save([1])), Class, "ERR_ZARR_NATIVE_UNAVAILABLE", fragments, Base);
      check(
        thrown(() => saver.saveSync([1])),
        Class,
        "ERR_ZARR_NATIVE_UNAVAILABLE",
        fragments,
        Base,
      );
      expect(fresh.NativeUnavailableError.name).toBe(NativeUnavailableError.name);
    } finally {
      vi.doUnmock("node:module");
      vi.resetModules();
    }
  });

  // Deno's own refusals, as the loader meets them (scripts/runtime-smoke.mjs sees the real ones).
  it.each([
    ["NotCapable", 'Requires env access to "NAPI_RS_WASI_FLAVOR", run again with the --allow-env flag'],
    ["Error", 'Requires ffi access to "/x/zarr-saver.linux-x64-gnu.node", run again with the --allow-ffi flag'],
  ])("a permission Deno refused (%s) is named with the flags to grant, not a reinstall", async (name, reason) => {
    vi.resetModules();
    vi.doMock("node:module", async (importOriginal) => ({
      ...(await importOriginal<typeof import("node:module")>()),
      createRequire: () => () => {
        const refusal = Object.assign(new Error(reason), { name });
        throw new Error("Cannot find native binding.", { cause: refusal });
      },
    }));
    try {
      const fresh = await import("../src/index.js");
      const err = thrown(() => new fresh.ZarrSaver(tempDir("zarr-saver-errors-")).saveSync([1]));
      check(
        err,
        fresh.NativeUnavailableError,
        "ERR_ZARR_NATIVE_UNAVAILABLE",
        [reason, "--allow-read --allow-write --allow-env --allow-ffi"],
        fresh.ZarrSaverError,
      );
      expect((err as Error).message).not.toMatch(/reinstall|Rust toolchain/i);
    } finally {
      vi.doUnmock("node:module");
      vi.resetModules();
    }
  });
});
