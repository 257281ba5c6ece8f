/**
 * The metadata ZarrSaver writes, pinned with inline snapshots: any change to
 * the JSON other readers see (zarr-python, zarrita, tensorstore, xarray) must
 * show up here as a reviewed snapshot update.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ZarrSaver, Zstd } from "../src/index.js";
import { tempDir } from "./helpers/tmp.js";

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

/** Every metadata file under `root` (zarr.json, .zarray, .zattrs, .zgroup), by relative path. */
function metadataFiles(root: string): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (["zarr.json", ".zarray", ".zattrs", ".zgroup"].includes(name)) out[relative(root, path)] = json(path);
    }
  };
  walk(root);
  return out;
}

/** Only the given keys of `meta`: the parts a snapshot is about (the rest is pinned by the full snapshots above it). */
function pick(meta: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, meta[k]]));
}

/** Every key anywhere inside `value`, depth first. */
function allKeys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) allKeys(v, out);
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      allKeys(v, out);
    }
  }
  return out;
}

/** Every root written by this file, checked at the end for internal keys. */
const roots: string[] = [];
function container(): string {
  const root = tempDir("zarr-saver-meta-");
  roots.push(root);
  return root;
}

describe("Zarr v3 array metadata (zarr.json)", () => {
  it("a default float64 [N, 16] array: default chunks, Blosc lz4 with byte shuffle, fill 0", async () => {
    const root = container();
    const rows = Array.from({ length: 100 }, (_, i) => Array.from({ length: 16 }, (_, j) => i + j / 16));
    await new ZarrSaver(root).save(rows);
    const meta = json(join(root, "dataset", "zarr.json"));
    // Default chunks: whole trailing axis; rows enough for a chunk of about 1-4 MiB.
    const [chunkRows, chunkCols] = (meta.chunk_grid as { configuration: { chunk_shape: number[] } }).configuration.chunk_shape;
    expect(chunkCols).toBe(16);
    expect((chunkRows as number) * 16 * 8).toBeGreaterThanOrEqual(1 << 20);
    expect((chunkRows as number) * 16 * 8).toBeLessThanOrEqual(4 << 20);
    expect(meta).toMatchInlineSnapshot(`
      {
        "attributes": {},
        "chunk_grid": {
          "configuration": {
            "chunk_shape": [
              8192,
              16,
            ],
          },
          "name": "regular",
        },
        "chunk_key_encoding": {
          "configuration": {
            "separator": "/",
          },
          "name": "default",
        },
        "codecs": [
          {
            "configuration": {
              "endian": "little",
            },
            "name": "bytes",
          },
          {
            "configuration": {
              "blocksize": 0,
              "clevel": 5,
              "cname": "lz4",
              "shuffle": "shuffle",
              "typesize": 8,
            },
            "name": "blosc",
          },
        ],
        "data_type": "float64",
        "fill_value": 0,
        "node_type": "array",
        "shape": [
          100,
          16,
        ],
        "zarr_format": 3,
      }
    `);
  });

  it("an int32 array with Zstd, fillValue, dimensionNames and attributes", async () => {
    const root = container();
    await new ZarrSaver(root, { datasetName: "counts" }).save(new Int32Array([1, 2, 3, 4, 5, 6]), {
      chunks: [4],
      compressor: new Zstd({ level: 5 }),
      fillValue: -1,
      dimensionNames: ["time"],
      attributes: { units: "counts", scale: 0.5, nested: { tags: ["a", "b"], ok: true } },
    });
    const counts = json(join(root, "counts", "zarr.json"));
    expect(counts.chunk_grid).toEqual({ name: "regular", configuration: { chunk_shape: [4] } });
    expect(counts.shape).toEqual([6]);
    expect(
      pick(counts, ["attributes", "codecs", "data_type", "dimension_names", "fill_value", "zarr_format"]),
    ).toMatchInlineSnapshot(`
      {
        "attributes": {
          "nested": {
            "ok": true,
            "tags": [
              "a",
              "b",
            ],
          },
          "scale": 0.5,
          "units": "counts",
        },
        "codecs": [
          {
            "configuration": {
              "endian": "little",
            },
            "name": "bytes",
          },
          {
            "configuration": {
              "checksum": false,
              "level": 5,
            },
            "name": "zstd",
          },
        ],
        "data_type": "int32",
        "dimension_names": [
          "time",
        ],
        "fill_value": -1,
        "zarr_format": 3,
      }
    `);
  });

  it("a sharded array: sharding_indexed with inner chunks and the compressor inside the shard", async () => {
    const root = container();
    const rows = Array.from({ length: 10 }, (_, i) => [i, i * 2, i * 3, i * 4]);
    await new ZarrSaver(root, { datasetName: "sharded" }).save(rows, { dtype: "float32", chunks: [2, 4], shards: [8, 4] });
    const sharded = json(join(root, "sharded", "zarr.json"));
    expect(sharded.shape).toEqual([10, 4]);
    expect(pick(sharded, ["chunk_grid", "codecs", "data_type"])).toMatchInlineSnapshot(`
      {
        "chunk_grid": {
          "configuration": {
            "chunk_shape": [
              8,
              4,
            ],
          },
          "name": "regular",
        },
        "codecs": [
          {
            "configuration": {
              "chunk_shape": [
                2,
                4,
              ],
              "codecs": [
                {
                  "configuration": {
                    "endian": "little",
                  },
                  "name": "bytes",
                },
                {
                  "configuration": {
                    "blocksize": 0,
                    "clevel": 5,
                    "cname": "lz4",
                    "shuffle": "shuffle",
                    "typesize": 4,
                  },
                  "name": "blosc",
                },
              ],
              "index_codecs": [
                {
                  "configuration": {
                    "endian": "little",
                  },
                  "name": "bytes",
                },
                {
                  "name": "crc32c",
                },
              ],
              "index_location": "end",
            },
            "name": "sharding_indexed",
          },
        ],
        "data_type": "float32",
      }
    `);
  });

  it("a string array: data_type string with the vlen-utf8 codec", async () => {
    const root = container();
    await new ZarrSaver(root, { datasetName: "labels" }).save(["alpha", "béta", ""], { chunks: [2] });
    const labels = json(join(root, "labels", "zarr.json"));
    expect(labels.shape).toEqual([3]);
    expect(pick(labels, ["codecs", "data_type", "fill_value"])).toMatchInlineSnapshot(`
      {
        "codecs": [
          {
            "configuration": {},
            "name": "vlen-utf8",
          },
          {
            "configuration": {
              "blocksize": 0,
              "clevel": 5,
              "cname": "lz4",
              "shuffle": "noshuffle",
              "typesize": 1,
            },
            "name": "blosc",
          },
        ],
        "data_type": "string",
        "fill_value": "",
      }
    `);
  });
});

describe("Zarr v3 groups", () => {
  it("the root group and the intermediate group of datasetName 'a/b'", async () => {
    const root = container();
    await new ZarrSaver(root, { datasetName: "a/b" }).save([1, 2, 3]);
    expect(Object.keys(metadataFiles(root))).toEqual(["a/b/zarr.json", "a/zarr.json", "zarr.json"]);
    expect(json(join(root, "zarr.json"))).toMatchInlineSnapshot(`
      {
        "attributes": {},
        "node_type": "group",
        "zarr_format": 3,
      }
    `);
    expect(json(join(root, "a", "zarr.json"))).toEqual(json(join(root, "zarr.json")));
    expect(json(join(root, "a", "b", "zarr.json")).node_type).toBe("array");
  });
});

describe("Zarr v2 metadata", () => {
  it(".zarray, .zattrs (dimensionNames as _ARRAY_DIMENSIONS) and .zgroup", async () => {
    const root = container();
    const rows = Array.from({ length: 6 }, (_, i) => [i, -i, i / 2]);
    await new ZarrSaver(root, { datasetName: "grp/v2" }).save(rows, {
      zarrFormat: 2,
      dtype: "float32",
      chunks: [4, 3],
      fillValue: 0,
      dimensionNames: ["time", "channel"],
      attributes: { units: "volts" },
    });
    expect(Object.keys(metadataFiles(root))).toEqual(["grp/.zgroup", "grp/v2/.zarray", "grp/v2/.zattrs", ".zgroup"].sort());
    expect(existsSync(join(root, "zarr.json"))).toBe(false);
    expect(json(join(root, "grp", "v2", ".zarray"))).toMatchInlineSnapshot(`
      {
        "chunks": [
          4,
          3,
        ],
        "compressor": {
          "blocksize": 0,
          "clevel": 5,
          "cname": "lz4",
          "id": "blosc",
          "shuffle": 1,
        },
        "dimension_separator": ".",
        "dtype": "<f4",
        "fill_value": 0,
        "filters": null,
        "order": "C",
        "shape": [
          6,
          3,
        ],
        "zarr_format": 2,
      }
    `);
    expect(json(join(root, "grp", "v2", ".zattrs"))).toMatchInlineSnapshot(`
      {
        "_ARRAY_DIMENSIONS": [
          "time",
          "channel",
        ],
        "units": "volts",
      }
    `);
    expect(json(join(root, ".zgroup"))).toMatchInlineSnapshot(`
      {
        "zarr_format": 2,
      }
    `);
    expect(json(join(root, "grp", ".zgroup"))).toEqual(json(join(root, ".zgroup")));
  });

  it("a v2 int64 array with Zstd and no dimension names", async () => {
    const root = container();
    await new ZarrSaver(root, { datasetName: "ints" }).save([1n, 2n, 3n], { zarrFormat: 2, chunks: [2], compressor: new Zstd() });
    expect(pick(json(join(root, "ints", ".zarray")), ["compressor", "dtype", "fill_value", "filters"])).toMatchInlineSnapshot(`
      {
        "compressor": {
          "id": "zstd",
          "level": 1,
        },
        "dtype": "<i8",
        "fill_value": 0,
        "filters": null,
      }
    `);
  });
});

describe("appends touch only the shape", () => {
  it("v3: zarr.json differs only in 'shape' after each append (attributes and codecs kept)", async () => {
    const root = container();
    const saver = new ZarrSaver(root, { datasetName: "grow" });
    await saver.save([[1, 2, 3]], {
      chunks: [2, 3],
      dimensionNames: ["row", "col"],
      attributes: { note: "kept" },
      fillValue: 7,
    });
    const path = join(root, "grow", "zarr.json");
    let before = json(path);
    for (const [rows, total] of [
      [4, 5],
      [1, 6],
    ] as const) {
      await saver.save(Array.from({ length: rows }, () => [4, 5, 6]));
      const after = json(path);
      expect(after).toEqual({ ...before, shape: [total, 3] });
      before = after;
    }
    // Creation options given to a later append do not rewrite the metadata.
    await saver.save([[0, 0, 0]], { attributes: { note: "not applied on append" }, chunks: [5, 3] });
    expect(json(path)).toEqual({ ...before, shape: [7, 3] });
  });

  it("v2: .zarray differs only in 'shape' after an append; .zattrs is untouched", async () => {
    const root = container();
    const saver = new ZarrSaver(root, { datasetName: "grow2" });
    await saver.save([1, 2, 3], { zarrFormat: 2, chunks: [2], dimensionNames: ["t"] });
    const zarray = json(join(root, "grow2", ".zarray"));
    const zattrs = readFileSync(join(root, "grow2", ".zattrs"));
    await saver.save([4, 5]);
    expect(json(join(root, "grow2", ".zarray"))).toEqual({ ...zarray, shape: [5] });
    expect(readFileSync(join(root, "grow2", ".zattrs"))).toEqual(zattrs);
  });
});

describe("no internal keys leak into what other readers see", () => {
  it("no '_zarrs' key anywhere after create, append, update and overwrite, v3 and v2", async () => {
    // One container per format: a hierarchy holds one.
    for (const zarrFormat of [3, 2] as const) {
      const root = container();
      const name = `v${zarrFormat}/data`;
      await new ZarrSaver(root, { datasetName: name }).save([[1, 2]], {
        zarrFormat,
        attributes: { a: 1 },
        dimensionNames: ["r", "c"],
      });
      new ZarrSaver(root, { datasetName: name }).saveSync([[3, 4]]);
      await new ZarrSaver(root, { datasetName: name, approach: "update" }).save([[5, 6]], { indices: 0 });
      await new ZarrSaver(root, { datasetName: `${name}2`, approach: "overwrite" }).save(["x"], { zarrFormat });
      await new ZarrSaver(root, { datasetName: `${name}2`, approach: "overwrite" }).save([true], { zarrFormat });
    }
    const sharded = container();
    await new ZarrSaver(sharded, { datasetName: "sharded" }).save([1, 2, 3], { chunks: [1], shards: [2] });
    // ...and in every container the tests above wrote.
    for (const dir of roots) {
      for (const [file, meta] of Object.entries(metadataFiles(dir))) {
        expect(
          allKeys(meta).filter((k) => k.startsWith("_zarrs")),
          file,
        ).toEqual([]);
        expect(readFileSync(join(dir, file), "utf8"), file).not.toContain("_zarrs");
      }
    }
  });
});
