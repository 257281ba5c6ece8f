/**
 * Datasets as xarray writes them: a group of variables sharing a time axis, with
 * consolidated metadata (v2 `.zmetadata`, v3 `consolidated_metadata` in the group's
 * `zarr.json`). A save keeps every consolidated copy that lists its array true, so
 * `xr.open_zarr(path)` and `zarr.open_group(path)`, with their defaults, see it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, ZarrSaver } from "../src/index.js";
import { runPython } from "./helpers/python.js";
import { snapshotTree, tempDir } from "./helpers/tmp.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** xarray writes a dataset: temp (time, x) float64, time int64, a static lat coordinate. */
function xarrayStore(format: 2 | 3): string {
  const path = join(tempDir("zarr-saver-xr-"), "ds.zarr");
  runPython(
    `
import sys, json, numpy as np, xarray as xr
ds = xr.Dataset(
    {"temp": (("time", "x"), np.arange(12.0).reshape(4, 3))},
    coords={"time": np.arange(4, dtype="int64"), "x": np.array([10, 20, 30], dtype="int64")},
)
ds["temp"].attrs["units"] = "K"
ds.to_zarr(sys.argv[1], zarr_format=int(sys.argv[2]))
print(json.dumps(True))
`,
    [path, String(format)],
  );
  return path;
}

interface Opened {
  dims: Record<string, number>;
  temp: number[][];
  time: number[];
  dtype: string;
  units: string | null;
  group_shape: number[];
  variables: string[];
  warnings: string[];
}

/** What xarray and zarr-python see with their defaults (warnings included). */
function openDefaults(path: string): Opened {
  return runPython<Opened>(
    `
import sys, json, warnings, xarray as xr, zarr
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ds = xr.open_zarr(sys.argv[1])
    out = {
        "dims": {k: int(v) for k, v in ds.sizes.items()},
        "temp": ds["temp"].values.tolist(),
        "time": ds["time"].values.tolist(),
        "dtype": str(ds["temp"].dtype),
        "units": ds["temp"].attrs.get("units"),
        "group_shape": list(zarr.open_group(sys.argv[1], mode="r")["temp"].shape),
        "variables": sorted(ds.variables),
    }
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
`,
    [path],
  );
}

/** The consolidated entries of the root group and each array's own metadata, as JSON. */
function consolidatedAndOwn(path: string, format: 2 | 3): { entries: Record<string, Json>; own: Record<string, Json> } {
  const read = (p: string): Json => JSON.parse(readFileSync(join(path, p), "utf8")) as Json;
  if (format === 3) {
    const root = read("zarr.json") as { consolidated_metadata: { metadata: Record<string, Json> } };
    const entries = root.consolidated_metadata.metadata;
    const own = Object.fromEntries(Object.keys(entries).map((k) => [k, read(`${k}/zarr.json`)]));
    return { entries, own };
  }
  const entries = (read(".zmetadata") as { metadata: Record<string, Json> }).metadata;
  const own = Object.fromEntries(Object.keys(entries).map((k) => [k, read(k)]));
  return { entries, own };
}

describe.each([3, 2] as const)("a dataset xarray wrote, zarr format %i, consolidated", (format) => {
  it("appends to a variable and its time coordinate are seen by xr.open_zarr and zarr.open_group", async () => {
    const path = xarrayStore(format);
    const before = consolidatedAndOwn(path, format);
    await new ZarrSaver(path, { datasetName: "temp" }).save([
      [100, 101, 102],
      [103, 104, 105],
    ]);
    await new ZarrSaver(path, { datasetName: "time" }).save(new BigInt64Array([4n, 5n]));
    const seen = openDefaults(path);
    expect(seen.dims).toEqual({ time: 6, x: 3 });
    expect(seen.time).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen.temp.slice(-2)).toEqual([
      [100, 101, 102],
      [103, 104, 105],
    ]);
    expect(seen.group_shape).toEqual([6, 3]);
    expect(seen.units).toBe("K");
    expect(seen.warnings).toEqual([]);
    // Each consolidated entry equals the node's own document; entries of nodes no save touched are as they were.
    const after = consolidatedAndOwn(path, format);
    expect(after.entries).toEqual(after.own);
    for (const key of Object.keys(before.entries)) {
      if (!/^(temp|time)(\/\.zarray)?$/.test(key)) expect(after.entries[key], key).toEqual(before.entries[key]);
    }
  });

  it("an update is seen, and leaves the consolidated copy byte for byte", async () => {
    const path = xarrayStore(format);
    const copy = format === 3 ? "zarr.json" : ".zmetadata";
    const bytes = readFileSync(join(path, copy));
    await new ZarrSaver(path, { datasetName: "temp", approach: "update" }).save([[-1, -2, -3]], { indices: 1 });
    expect(openDefaults(path).temp[1]).toEqual([-1, -2, -3]);
    expect(readFileSync(join(path, copy))).toEqual(bytes);
  });

  it("an overwrite is seen, dtype and values", async () => {
    const path = xarrayStore(format);
    await new ZarrSaver(path, { datasetName: "temp", approach: "overwrite" }).save(
      { data: new Float32Array(12).fill(0.5), shape: [4, 3] },
      { dimensionNames: ["time", "x"], attributes: { units: "degC" }, zarrFormat: format },
    );
    const seen = openDefaults(path);
    expect(seen.dtype).toBe("float32");
    expect(seen.temp).toEqual(Array.from({ length: 4 }, () => [0.5, 0.5, 0.5]));
    expect(seen.units).toBe("degC");
    const after = consolidatedAndOwn(path, format);
    expect(after.entries).toEqual(after.own);
  });

  it("a new variable appears in the consolidated listing", async () => {
    const path = xarrayStore(format);
    await new ZarrSaver(path, { datasetName: "pressure" }).save(
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [10, 11, 12],
      ],
      { dimensionNames: ["time", "x"], zarrFormat: format },
    );
    expect(openDefaults(path).variables).toEqual(["pressure", "temp", "time", "x"]);
  });

  it("without zarrFormat, an overwrite and a new variable take the store's format and read back", async () => {
    const path = xarrayStore(format);
    const own = format === 3 ? "zarr.json" : ".zarray";
    await new ZarrSaver(path, { datasetName: "temp", approach: "overwrite" }).save(
      { data: new Float64Array(12).fill(2.5), shape: [4, 3] },
      { dimensionNames: ["time", "x"] },
    );
    await new ZarrSaver(path, { datasetName: "temp" }).save([[7, 8, 9]]);
    await new ZarrSaver(path, { datasetName: "time" }).save(new BigInt64Array([4n]));
    await new ZarrSaver(path, { datasetName: "pressure" }).save(
      Array.from({ length: 5 }, () => [1, 2, 3]),
      { dimensionNames: ["time", "x"] },
    );
    for (const name of ["temp", "pressure"]) {
      expect(JSON.parse(readFileSync(join(path, name, own), "utf8")).zarr_format, name).toBe(format);
    }
    const seen = openDefaults(path);
    expect(seen.warnings).toEqual([]);
    expect(seen.dims).toEqual({ time: 5, x: 3 });
    expect(seen.temp[0]).toEqual([2.5, 2.5, 2.5]);
    expect(seen.temp[4]).toEqual([7, 8, 9]);
    expect(seen.variables).toEqual(["pressure", "temp", "time", "x"]);
    const after = consolidatedAndOwn(path, format);
    expect(after.entries).toEqual(after.own);
  });

  it("an array of the other format is refused, naming both, and nothing changes", async () => {
    const path = xarrayStore(format);
    const before = snapshotTree(path);
    const other = format === 3 ? 2 : 3;
    const err = await new ZarrSaver(path, { datasetName: "odd" }).save([1, 2], { zarrFormat: other }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(`zarrFormat ${other}`);
    expect((err as Error).message).toContain(`Zarr v${format} group`);
    expect(snapshotTree(path)).toEqual(before);
  });
});

describe.each([3, 2] as const)("a dataset built from Node, zarr format %i, consolidated: true", (format) => {
  it("opens in xr.open_zarr with its defaults and no warning, before and after appends", async () => {
    const path = join(tempDir("zarr-saver-node-ds-"), "ds.zarr");
    const opts = { zarrFormat: format, consolidated: true } as const;
    await new ZarrSaver(path, { datasetName: "temp" }).save(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      { ...opts, dimensionNames: ["time", "x"], attributes: { units: "K" } },
    );
    // xarray masks a v2 array's fill value as missing (0 for integers by default):
    // the time axis starts at 1 so that no value is the fill value.
    await new ZarrSaver(path, { datasetName: "time" }).save(new BigInt64Array([1n, 2n]), {
      ...opts,
      dimensionNames: ["time"],
    });
    let seen = openDefaults(path);
    expect(seen.warnings).toEqual([]);
    expect(seen.dims).toEqual({ time: 2, x: 3 });
    expect(seen.units).toBe("K");
    await new ZarrSaver(path, { datasetName: "temp" }).save([[7, 8, 9]]);
    await new ZarrSaver(path, { datasetName: "time" }).save(new BigInt64Array([3n]));
    seen = openDefaults(path);
    expect(seen.warnings).toEqual([]);
    expect(seen.dims).toEqual({ time: 3, x: 3 });
    expect(seen.time).toEqual([1, 2, 3]);
    expect(seen.temp[2]).toEqual([7, 8, 9]);
    const { entries, own } = consolidatedAndOwn(path, format);
    expect(entries).toEqual(own);
  });
});

describe("stores without consolidated metadata stay without", () => {
  it("a save into a plain group adds no consolidated copy", async () => {
    const root = tempDir("zarr-saver-plain-");
    await new ZarrSaver(root, { datasetName: "a/b" }).save([1, 2]);
    await new ZarrSaver(root, { datasetName: "a/b" }).save([3]);
    const doc = JSON.parse(readFileSync(join(root, "zarr.json"), "utf8")) as Record<string, unknown>;
    expect(doc).toEqual({ zarr_format: 3, node_type: "group", attributes: {} });
  });
});
