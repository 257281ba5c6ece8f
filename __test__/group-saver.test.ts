/**
 * GroupSaver: several arrays of one group in one commit. What users rely on: a group
 * it creates opens in `xr.open_zarr(path)` with no options and no warning; appends of
 * data variables and the time coordinate land together; a bad array leaves the tree
 * byte for byte; a writer killed mid-save leaves every array at one length, which the
 * consolidated copy and each array's own metadata agree on once the next writer ran.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DtypeMismatchError, GroupSaver, InvalidArgumentError, ShapeMismatchError, type ZarrSaverError } from "../src/index.js";
import { mulberry32 } from "./helpers/prng.js";
import { runPython } from "./helpers/python.js";
import { settleFiles, snapshotTree, tempDir } from "./helpers/tmp.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const ROOT = join(import.meta.dirname, "..");

interface Opened {
  dims: Record<string, number>;
  variables: Record<string, { dims: string[]; values: Json }>;
  warnings: string[];
}

/** The dataset as `xr.open_zarr(path, group=...)` sees it with its defaults, warnings included. */
function openDataset(path: string, group = ""): Opened {
  return runPython<Opened>(
    `
import sys, json, warnings, numpy as np, xarray as xr
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ds = xr.open_zarr(sys.argv[1], group=sys.argv[2] or None)
    out = {"dims": {k: int(v) for k, v in ds.sizes.items()},
           "variables": {k: {"dims": list(v.dims), "values": np.asarray(v.values).tolist()} for k, v in ds.variables.items()}}
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
`,
    [path, group],
  );
}

const rows = (t0: number, n: number, width: number): number[][] =>
  Array.from({ length: n }, (_, t) => Array.from({ length: width }, (_, x) => (t0 + t) * 100 + x));

describe.each([3, 2] as const)("GroupSaver, zarr format %i", (zarrFormat) => {
  it("creates a dataset xarray opens with its defaults, then appends every variable together", async () => {
    const path = join(tempDir("zarr-saver-group-"), "ds.zarr");
    const ds = new GroupSaver(path, { group: "run" });
    const first = await ds.save(
      { temp: rows(0, 3, 4), pressure: rows(0, 3, 2), time: new BigInt64Array([1n, 2n, 3n]) },
      { zarrFormat, arrays: { temp: { attributes: { units: "K" } } } },
    );
    expect(first.temp).toMatchObject({ shape: [3, 4], created: true });
    const more = await ds.save({ temp: rows(3, 2, 4), pressure: rows(3, 2, 2), time: new BigInt64Array([4n, 5n]) });
    expect(more.time).toMatchObject({ shape: [5], region: [[3, 5]], created: false });
    const seen = openDataset(path, "run");
    expect(seen.warnings).toEqual([]);
    expect(seen.dims).toEqual({ time: 5, temp_dim_1: 4, pressure_dim_1: 2 });
    expect(seen.variables.temp?.dims).toEqual(["time", "temp_dim_1"]);
    expect(seen.variables.time?.values).toEqual([1, 2, 3, 4, 5]);
    expect(seen.variables.temp?.values).toEqual(rows(0, 5, 4));
  });

  it("uses the dimension names it is given", async () => {
    const path = join(tempDir("zarr-saver-group-"), "ds.zarr");
    await new GroupSaver(path).save(
      { temp: rows(0, 2, 3), station: [10, 20, 30] },
      { zarrFormat, arrays: { temp: { dimensionNames: ["time", "station"] }, station: { dimensionNames: ["station"] } } },
    );
    const seen = openDataset(path);
    expect(seen.warnings).toEqual([]);
    expect(seen.dims).toEqual({ time: 2, station: 3 });
  });

  it.each([
    ["one array of the wrong width", { temp: rows(9, 1, 5), time: new BigInt64Array([9n]) }, ShapeMismatchError],
    ["a lossy cast", { temp: [[0.5, 1, 2, 3]], time: [9.5] }, DtypeMismatchError],
    ["unequal row counts", { temp: rows(9, 2, 4), time: new BigInt64Array([9n]) }, ShapeMismatchError],
    ["an array that is missing", { temp: rows(9, 1, 4), time: new BigInt64Array([9n]), other: [1] }, InvalidArgumentError],
  ] as const)("%s: refused, and the tree is byte for byte as it was", async (_what, arrays, error) => {
    const path = join(tempDir("zarr-saver-group-"), "ds.zarr");
    const ds = new GroupSaver(path);
    await ds.save({ temp: rows(0, 2, 4), time: new BigInt64Array([1n, 2n]) }, { zarrFormat });
    const before = snapshotTree(path);
    const err = await ds.save(arrays as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(error);
    expect((err as ZarrSaverError).message.length).toBeGreaterThan(10);
    expect(snapshotTree(path)).toEqual(before);
  });

  it("appends to a dataset xarray wrote, and updates and overwrites it", async () => {
    const path = join(tempDir("zarr-saver-group-"), "ds.zarr");
    runPython(
      `
import sys, json, numpy as np, xarray as xr
xr.Dataset({"temp": (("time", "x"), np.arange(6.0).reshape(2, 3))}, coords={"time": np.array([1, 2])}).to_zarr(
    sys.argv[1], zarr_format=int(sys.argv[2]))
print(json.dumps(True))
`,
      [path, String(zarrFormat)],
    );
    await new GroupSaver(path).save({ temp: [[6, 7, 8]], time: new BigInt64Array([3n]) });
    let seen = openDataset(path);
    expect(seen.dims).toEqual({ time: 3, x: 3 });
    expect(seen.variables.temp?.values).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7, 8],
    ]);
    await new GroupSaver(path, { approach: "update" }).save(
      { temp: [[-1, -1, -1]], time: new BigInt64Array([7n]) },
      { indices: 0 },
    );
    seen = openDataset(path);
    expect(seen.variables.time?.values).toEqual([7, 2, 3]);
    await new GroupSaver(path, { approach: "overwrite" }).save(
      { temp: rows(0, 2, 3), time: new BigInt64Array([1n, 2n]) },
      { zarrFormat, arrays: { temp: { dimensionNames: ["time", "x"] }, time: { dimensionNames: ["time"] } } },
    );
    seen = openDataset(path);
    expect(seen.dims).toEqual({ time: 2, x: 3 });
    expect(seen.variables.temp?.values).toEqual(rows(0, 2, 3));
  });
});

// ---------------------------------------------------------------- crashes

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KILLS = 20;

/** The root's consolidated entries: array name -> shape. */
function consolidatedShapes(path: string): Record<string, number[]> {
  const root = JSON.parse(readFileSync(join(path, "zarr.json"), "utf8")) as {
    consolidated_metadata: { metadata: Record<string, { shape?: number[] }> };
  };
  return Object.fromEntries(Object.entries(root.consolidated_metadata.metadata).map(([k, v]) => [k, v.shape ?? []]));
}

function ownShapes(path: string, names: string[]): Record<string, number[]> {
  return Object.fromEntries(
    names.map((n) => [n, (JSON.parse(readFileSync(join(path, n, "zarr.json"), "utf8")) as { shape: number[] }).shape]),
  );
}

describe("a GroupSaver writer killed at random moments", () => {
  it(`${KILLS} kills: every array one length, every acknowledged batch whole, the consolidated copy and the arrays agree`, async () => {
    const rand = mulberry32(Number(process.env.ZARR_SAVER_SEED ?? Date.now() % 2 ** 31));
    const path = join(tempDir("zarr-saver-group-crash-"), "ds.zarr");
    const names = ["a", "b", "time"];
    let acknowledged = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      // The next batch follows the rows the consolidated copy (the commit point) lists.
      const first = readFileSyncSafe(join(path, "zarr.json")) ? (consolidatedShapes(path).time?.[0] ?? 0) / 3 + 1 : 1;
      const child = spawn(process.execPath, [join(ROOT, "__test__", "fixtures", "group-writer.mjs"), path, String(first)], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.add(child);
      let out = "";
      child.stdout?.setEncoding("utf8").on("data", (s: string) => {
        out += s;
      });
      const closed = new Promise((r) => child.once("close", r));
      await sleep(80 + rand() * 400);
      child.kill("SIGKILL");
      await closed;
      children.delete(child);
      const printed = out.split("\n").filter(Boolean).map(Number);
      if (printed.length > 0) acknowledged = Math.max(acknowledged, printed.at(-1) as number);
      settleFiles();
      if (!readFileSyncSafe(join(path, "zarr.json"))) continue; // killed before the group existed
      // What xarray reads: every array at one length, holding every acknowledged batch.
      const listed = consolidatedShapes(path);
      const lengths = new Set(names.map((n) => listed[n]?.[0]));
      expect(lengths.size, `kill ${kill}: ${JSON.stringify(listed)}`).toBe(1);
      const length = [...lengths][0] as number;
      expect(length).toBeGreaterThanOrEqual(acknowledged * 3);
      // The next writer brings each array's own metadata to the committed state.
      const seen = runPython<{ a: number[][]; time: number[] }>(
        `
import sys, json, zarr
g = zarr.open_group(sys.argv[1], mode="r")
print(json.dumps({"a": g["a"][:].tolist(), "time": g["time"][:].tolist()}))
`,
        [path],
      );
      // Batches are whole: batch k is rows 3k..3k+3, all k.
      const batchOf = (i: number): number => Math.floor(i / 3) + 1;
      expect(seen.time, `kill ${kill}`).toEqual(seen.time.map((_, i) => batchOf(i)));
      expect(seen.a, `kill ${kill}`).toEqual(seen.a.map((_, i) => [batchOf(i), batchOf(i)]));
      await new GroupSaver(path, { approach: "update" }).save(
        // Row 0 rewritten with its own values: a save that changes nothing but runs recovery.
        { a: [[1, 1]], b: [1], time: new BigInt64Array([1n]) },
        { indices: 0 },
      );
      settleFiles();
      const agreed = consolidatedShapes(path);
      expect(ownShapes(path, names), `kill ${kill}`).toEqual(Object.fromEntries(names.map((n) => [n, agreed[n]])));
    }
    expect(acknowledged).toBeGreaterThan(0);
  }, 180_000);
});

function readFileSyncSafe(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}
