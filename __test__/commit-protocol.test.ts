/**
 * The commit protocol as users rely on it: a failed save leaves the file system as
 * it was (filePath and parent groups included), a writer paused mid-save keeps its
 * temp files, `durable` syncs in the right order (read off strace) and a plain save
 * syncs nothing, and the facade's copies of the core's tables agree with the core.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CORE_ERROR_CODES } from "../src/errors.js";
import {
  CorruptMetadataError,
  DATA_TYPES,
  DatasetNotFoundError,
  DtypeMismatchError,
  InvalidArgumentError,
  OutOfBoundsError,
  type SaveData,
  type SaveOptions,
  ShapeMismatchError,
  UnsupportedError,
  ZarrSaver,
  type ZarrSaverError,
} from "../src/index.js";
import { nativeBinding } from "../src/native.js";
import { APPROACHES } from "../src/options.js";
import { readZarrita } from "./helpers/read.js";
import { settleFiles, tempDir } from "./helpers/tmp.js";

const ROOT = join(import.meta.dirname, "..");
const TEMP_PREFIX = ".zarr-saver-tmp-";
const fixture = (name: string): string => join(ROOT, "__test__", "fixtures", name);

/** Every entry under `base` (directories too, so an empty one left behind shows) with file bytes. */
function tree(base: string): Record<string, string> {
  settleFiles();
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(base, path);
      if (lstatSync(path).isDirectory()) {
        out[`${rel}/`] = "dir";
        walk(path);
      } else {
        out[rel] = readFileSync(path).toString("base64");
      }
    }
  };
  walk(base);
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, but the save resolved");
    },
    (err: unknown) => err,
  );
}

type ErrorClass = abstract new (...args: never[]) => ZarrSaverError;

interface Case {
  name: string;
  /** Make what exists before the failing save (inside `base`). */
  setup?: (filePath: string) => Promise<void>;
  datasetName: string;
  approach?: "append" | "overwrite" | "update";
  data: SaveData;
  options?: SaveOptions;
  error: ErrorClass;
}

const rows = (n: number, v = 1): number[][] => Array.from({ length: n }, () => [v, v, v]);
const withArrays = async (filePath: string): Promise<void> => {
  await new ZarrSaver(filePath, { datasetName: "a/b/c" }).save(rows(4));
  await new ZarrSaver(filePath, { datasetName: "a/b/ints" }).save({ data: new Int32Array([1, 2, 3]), shape: [3] });
};

const NEW_ARRAY_FAILURES: [string, SaveOptions, ErrorClass][] = [
  ["an unknown codec", { compressor: { id: "no-such-codec" } }, UnsupportedError],
  ["chunks of the wrong rank", { chunks: [2, 2, 2] }, InvalidArgumentError],
  ["zero chunks", { chunks: [0, 3] }, InvalidArgumentError],
  ["shards that are no multiple of the chunks", { chunks: [2, 3], shards: [3, 3] }, InvalidArgumentError],
  ["a fill value that is no number", { fillValue: "abc" }, InvalidArgumentError],
  ["a lossy cast", { dtype: "int32" }, DtypeMismatchError],
  ["an unknown filter", { filters: [{ id: "nope" }] }, UnsupportedError],
];

const CASES: Case[] = [
  // A new array, in a filePath that does not exist yet and in one that does.
  ...NEW_ARRAY_FAILURES.flatMap(([what, options, error]): Case[] => [
    { name: `create with ${what}, filePath missing`, datasetName: "a/b/c", data: [[1.5, 2, 3]], options, error },
    {
      name: `overwrite with ${what}, filePath missing`,
      datasetName: "x",
      approach: "overwrite",
      data: [[1.5, 2, 3]],
      options,
      error,
    },
    { name: `create with ${what} beside arrays`, setup: withArrays, datasetName: "a/new/d", data: [[1.5, 2, 3]], options, error },
    {
      name: `overwrite of an array with ${what}`,
      setup: withArrays,
      datasetName: "a/b/c",
      approach: "overwrite",
      data: [[1.5, 2, 3]],
      options,
      error,
    },
  ]),
  { name: "append of the wrong width", setup: withArrays, datasetName: "a/b/c", data: [[1, 2]], error: ShapeMismatchError },
  { name: "append of 1.5 into int32", setup: withArrays, datasetName: "a/b/ints", data: [1.5], error: DtypeMismatchError },
  {
    name: "append asking for another dtype",
    setup: withArrays,
    datasetName: "a/b/c",
    data: rows(1),
    options: { dtype: "float32" },
    error: DtypeMismatchError,
  },
  {
    name: "update out of bounds",
    setup: withArrays,
    datasetName: "a/b/c",
    approach: "update",
    data: rows(1),
    options: { indices: 9 },
    error: OutOfBoundsError,
  },
  {
    name: "update of a missing dataset",
    setup: withArrays,
    datasetName: "a/b/missing",
    approach: "update",
    data: rows(1),
    options: { indices: 0 },
    error: DatasetNotFoundError,
  },
  {
    name: "update in a filePath that does not exist",
    datasetName: "a/b/c",
    approach: "update",
    data: rows(1),
    options: { indices: 0 },
    error: DatasetNotFoundError,
  },
  {
    name: "append to corrupt metadata",
    setup: async (filePath) => {
      await withArrays(filePath);
      writeFileSync(join(filePath, "a/b/c/zarr.json"), "{ not json");
    },
    datasetName: "a/b/c",
    data: rows(1),
    error: CorruptMetadataError,
  },
  { name: "append to a group", setup: withArrays, datasetName: "a/b", data: rows(1), error: InvalidArgumentError },
  { name: "a dataset below an array", setup: withArrays, datasetName: "a/b/c/d", data: rows(1), error: InvalidArgumentError },
];

describe("a save that fails leaves the file system as it was", () => {
  it.each(CASES)("$name", async ({ setup, datasetName, approach, data, options, error }) => {
    const base = tempDir("zarr-saver-untouched-");
    const filePath = join(base, "store.zarr");
    await setup?.(filePath);
    const before = tree(base);
    const err = await rejection(new ZarrSaver(filePath, { datasetName, approach }).save(data, options));
    expect(err).toBeInstanceOf(error);
    expect(tree(base)).toEqual(before);
    // The sync twin too.
    expect(() => new ZarrSaver(filePath, { datasetName, approach }).saveSync(data, options)).toThrow(error as never);
    expect(tree(base)).toEqual(before);
  });

  it("an aborted create leaves no trace, not even its parent directories", async () => {
    const base = tempDir("zarr-saver-untouched-");
    const before = tree(base);
    const controller = new AbortController();
    // Random values (not the fill value, so every chunk is written), on one thread:
    // far longer than the first progress report, where the save is aborted.
    const data = Float64Array.from({ length: 8 << 20 }, () => Math.random());
    const saving = new ZarrSaver(join(base, "new.zarr"), { datasetName: "g/h/big", threads: 1 }).save(
      { data, shape: [2 << 20, 4] },
      { chunks: [1024, 4], signal: controller.signal, onProgress: () => controller.abort() },
    );
    await expect(saving).rejects.toMatchObject({ name: "AbortError" });
    expect(tree(base)).toEqual(before);
  });
});

// ---------------------------------------------------------------- a live writer's temp files

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
});

function tempEntries(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (name.startsWith(TEMP_PREFIX)) out.push(relative(dir, path));
      else if (lstatSync(path).isDirectory()) walk(path);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("writers that are alive keep their temp files", () => {
  it("a writer paused mid-save keeps its temp files while another process waits its turn", async () => {
    const root = tempDir("zarr-saver-paused-");
    const dataset = "paced";
    const paced = spawn(process.execPath, [fixture("paced-writer.mjs"), root, dataset, "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(paced);
    let printed = "";
    paced.stdout?.setEncoding("utf8").on("data", (s: string) => {
      printed += s;
    });
    while (!printed.includes("\n")) await sleep(10);
    // Stop it where its save has temp files out (its own, named with its pid).
    let held: string[] = [];
    for (let attempt = 0; attempt < 500 && held.length === 0; attempt++) {
      paced.kill("SIGSTOP");
      held = tempEntries(join(root, dataset)).filter((t) => t.includes(`.${paced.pid}-`));
      if (held.length === 0) {
        paced.kill("SIGCONT");
        await sleep(3);
      }
    }
    expect(held.length).toBeGreaterThan(0);
    // Another process saves to the same dataset: it must wait, and touch nothing.
    const other = spawn(process.execPath, [fixture("paced-writer.mjs"), root, dataset, "1000", "1"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(other);
    const otherDone = new Promise<number | null>((resolve) => other.on("close", resolve));
    await sleep(1500);
    for (const t of held) expect(existsSync(join(root, dataset, t)), t).toBe(true);
    paced.kill("SIGCONT");
    expect(await otherDone).toBe(0);
    paced.kill("SIGKILL");
    await new Promise((resolve) => paced.once("close", resolve));
    // Every batch in the array is whole: 16 Ki rows of one value.
    const { data, shape } = await readZarrita(root, dataset);
    const values = Array.from(data as Float64Array);
    const batches = new Map<number, number>();
    for (let r = 0; r < (shape[0] ?? 0); r++)
      batches.set(values[r * 4] as number, (batches.get(values[r * 4] as number) ?? 0) + 1);
    expect([...batches.values()].every((n) => n === 16 * 1024)).toBe(true);
    expect(batches.has(1000)).toBe(true);
    // The next save removes what the killed writer left.
    await new ZarrSaver(root, { datasetName: dataset }).save({ data: new Float64Array(4), shape: [1, 4] });
    settleFiles();
    expect(tempEntries(root)).toEqual([]);
  }, 60_000);
});

// ---------------------------------------------------------------- durable: the order of syncs

const HAVE_STRACE = spawnSync("strace", ["-V"]).status === 0;

interface Call {
  name: string;
  line: string;
  /** fsync: the fd's path; rename*: [from, to]. */
  paths: string[];
  exchange: boolean;
}

/** Run one save of `durable-save.mjs` under strace; the calls between its begin and end marks. */
function traced(approach: string, durable: boolean, setup: "none" | "array"): { calls: Call[]; root: string } {
  const base = tempDir("zarr-saver-strace-");
  const root = join(base, "store.zarr");
  if (setup === "array") mkdirSync(root);
  const log = join(base, "trace.log");
  execFileSync(
    "strace",
    [
      "-f",
      "-y",
      "-qq",
      "-s",
      "4096",
      "-e",
      "trace=fsync,fdatasync,syncfs,sync_file_range,rename,renameat,renameat2",
      "-o",
      log,
      process.execPath,
      fixture("durable-save.mjs"),
      root,
      "ds",
      approach,
      durable ? "1" : "0",
      setup,
    ],
    { cwd: ROOT, stdio: "inherit" },
  );
  const lines = readFileSync(log, "utf8").split("\n");
  const begin = lines.findIndex((l) => l.includes("zarr-saver-trace-begin"));
  const end = lines.findIndex((l) => l.includes("zarr-saver-trace-end"));
  expect(begin).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(begin);
  const calls = lines
    .slice(begin + 1, end)
    .map((line): Call | undefined => {
      // A call another thread interrupts is split: its first half ends "<unfinished ...>".
      const m =
        /(fsync|fdatasync|syncfs|sync_file_range|renameat2|renameat|rename)\((.*?)(?:\)\s+=\s+0| <unfinished \.\.\.>)/.exec(line);
      if (!m) return undefined;
      const [, name, args] = m as unknown as [string, string, string];
      const paths = name.startsWith("rename")
        ? [...args.matchAll(/"([^"]*)"/g)].map((p) => p[1] as string)
        : [/<([^>]*)>/.exec(args)?.[1] ?? ""];
      return { name, line, paths, exchange: args.includes("RENAME_EXCHANGE") };
    })
    .filter((c): c is Call => c !== undefined);
  return { calls, root };
}

const isSync = (c: Call): boolean => !c.name.startsWith("rename");
const syncIndex = (calls: Call[], path: string): number => calls.findIndex((c) => isSync(c) && c.paths[0] === path);

describe.skipIf(!HAVE_STRACE && !process.env.CI)("durable saves sync before they publish", () => {
  it.each([
    ["append", "array"],
    ["update", "array"],
    ["overwrite", "array"],
    ["append", "none"],
  ] as const)("a plain %s (%s) makes no sync call", (approach, setup) => {
    const { calls } = traced(approach, false, setup);
    expect(calls.filter(isSync)).toEqual([]);
    expect(calls.some((c) => !isSync(c))).toBe(true);
  });

  it("append: each chunk synced before its rename, chunk directories before the metadata, the dataset directory after", () => {
    const { calls, root } = traced("append", true, "array");
    const ds = join(root, "ds");
    const renames = calls.filter((c) => !isSync(c));
    const meta = calls.findIndex((c) => !isSync(c) && c.paths[1] === join(ds, "zarr.json"));
    expect(meta).toBeGreaterThan(0);
    const chunkRenames = renames.filter((c) => c.paths[1]?.startsWith(join(ds, "c/")));
    expect(chunkRenames.length).toBeGreaterThan(1);
    for (const r of [...chunkRenames, calls[meta] as Call]) {
      const at = calls.indexOf(r);
      const synced = syncIndex(calls, r.paths[0] as string);
      expect(synced, `${r.line} without a sync of its file before`).toBeGreaterThanOrEqual(0);
      expect(synced).toBeLessThan(at);
      if (r !== calls[meta]) expect(at).toBeLessThan(meta);
    }
    // The directories the chunks were renamed in, and `c` (a chunk directory is new), before the metadata.
    const lastChunk = calls.indexOf(chunkRenames.at(-1) as Call);
    for (const dir of [join(ds, "c"), ...chunkRenames.map((r) => join(r.paths[1] as string, ".."))]) {
      const synced = calls.findIndex((c, i) => i > lastChunk && isSync(c) && c.paths[0] === dir);
      expect(synced, dir).toBeGreaterThan(lastChunk);
      expect(synced, dir).toBeLessThan(meta);
    }
    const dirAfter = calls.findIndex((c, i) => i > meta && isSync(c) && c.paths[0] === ds);
    expect(dirAfter).toBeGreaterThan(meta);
  });

  it("update: chunks synced before their renames, their directory after, no metadata written", () => {
    const { calls, root } = traced("update", true, "array");
    const ds = join(root, "ds");
    const renames = calls.filter((c) => !isSync(c));
    expect(renames.length).toBeGreaterThan(1);
    for (const r of renames) {
      expect(r.paths[1]?.startsWith(join(ds, "c/")), r.line).toBe(true);
      const synced = syncIndex(calls, r.paths[0] as string);
      expect(synced).toBeGreaterThanOrEqual(0);
      expect(synced).toBeLessThan(calls.indexOf(r));
    }
    const last = calls.indexOf(renames.at(-1) as Call);
    for (const r of renames) {
      const dir = join(r.paths[1] as string, "..");
      expect(
        calls.findIndex((c, i) => i > last && isSync(c) && c.paths[0] === dir),
        dir,
      ).toBeGreaterThan(last);
    }
  });

  it.each([
    ["create", "append", "none"],
    ["overwrite", "overwrite", "array"],
  ] as const)(
    "%s: the staged array synced whole before it is swapped in, the parent directory after",
    (_what, approach, setup) => {
      const { calls, root } = traced(approach, true, setup);
      const target = setup === "none" ? root : join(root, "ds");
      const publish = calls.findIndex((c) => !isSync(c) && c.paths[1] === target && c.paths[0]?.includes(TEMP_PREFIX));
      expect(publish, calls.map((c) => c.line).join("\n")).toBeGreaterThanOrEqual(0);
      expect((calls[publish] as Call).exchange).toBe(setup === "array");
      const staging = (calls[publish] as Call).paths[0] as string;
      const before = calls
        .slice(0, publish)
        .filter(isSync)
        .map((c) => c.paths[0] as string);
      // Every file and directory of the new tree: its metadata, chunks, and the staging directory itself.
      expect(before.filter((p) => p.startsWith(`${staging}/`) && p.endsWith("zarr.json")).length).toBeGreaterThan(0);
      expect(before.filter((p) => p.includes("/c/")).length).toBeGreaterThan(1);
      expect(before).toContain(staging);
      const parent = join(target, "..");
      expect(calls.findIndex((c, i) => i > publish && isSync(c) && c.paths[0] === parent)).toBeGreaterThan(publish);
    },
  );
});

// ---------------------------------------------------------------- one owner per rule

describe("the facade's tables are the core's", () => {
  const native = nativeBinding();

  it("dtypes", () => {
    expect([...DATA_TYPES].sort()).toEqual([...native.dataTypes()].sort());
  });

  it("error codes: every code the core reports has its class (aborts become AbortError)", () => {
    expect([...CORE_ERROR_CODES].sort()).toEqual([...native.errorCodes()].sort());
  });

  it("threads: the core refuses what the facade refuses, with the same words", () => {
    const root = tempDir("zarr-saver-threads-");
    for (const threads of [0, 1025]) {
      const facade = (() => {
        try {
          new ZarrSaver(root, { threads });
        } catch (err) {
          return (err as Error).message;
        }
      })();
      const core = (() => {
        try {
          const prepared = new native.PreparedSave(
            { location: root, threads, durable: false },
            {
              dataset: "t",
              approach: "append",
              array: { dtype: "float64", compressor: { kind: "default" }, consolidated: false },
            },
          );
          native.saveSync(prepared, [1], new Uint8Array(8));
        } catch (err) {
          return (err as Error).message;
        }
      })();
      expect(facade).toBe(`threads must be an integer from 1 to 1024; got ${threads}`);
      expect(core).toBe(`ERR_ZARR_INVALID_ARGUMENT: ${facade}`);
    }
  });

  it("approaches: each one the facade accepts, the core runs", async () => {
    const root = tempDir("zarr-saver-approaches-");
    for (const approach of APPROACHES) {
      const saver = new ZarrSaver(root, { approach });
      await saver.save([1, 2], approach === "update" ? { indices: [0, 1] } : {});
    }
    expect(APPROACHES).toEqual(["append", "overwrite", "update"]);
  });
});
