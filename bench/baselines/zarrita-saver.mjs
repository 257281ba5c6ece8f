/**
 * The baseline: the pure-TypeScript saver that zarr-saver replaces, on zarrita.js.
 * Same constructor and `save(data, options)` as `ZarrSaver` (append / overwrite / update,
 * `chunks`, `compressor`, `indices`), written the way one writes it with zarrita's API:
 *
 * - zarrita cannot resize, so append = read zarr.json, write the grown shape, reopen,
 *   then `zarr.set` the new rows into their region (metadata first, as zarr-python does);
 * - zarrita has no integer-list selection, so `indices: number[]` is one `zarr.set`
 *   per row, in turn (concurrent sets of rows in one chunk would lose writes);
 * - `zarr.create` without codecs writes `"codecs": []`, which zarr-python refuses: the
 *   saver always writes the bytes codec plus the same compressor zarr-saver would.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

/**
 * zarrita's blosc (numcodecs.js) wants numcodecs' numeric shuffle, while v3 metadata
 * names it ("shuffle"): unpatched, the name silently means no shuffle. Map it once.
 */
const SHUFFLE = { noshuffle: 0, shuffle: 1, bitshuffle: 2 };
const PATCHED = Symbol.for("zarr-saver-bench.blosc-shuffle");
if (!zarr.registry[PATCHED]) {
  const loadBlosc = zarr.registry.get("blosc");
  zarr.registry.set("blosc", async () => {
    const Blosc = await loadBlosc();
    return {
      fromConfig: (cfg, meta) =>
        Blosc.fromConfig({ ...cfg, shuffle: typeof cfg.shuffle === "string" ? SHUFFLE[cfg.shuffle] : cfg.shuffle }, meta),
    };
  });
  zarr.registry[PATCHED] = true;
}

/** Blosc lz4, clevel 5, byte shuffle: zarr-saver's default, so both write the same codecs. */
function defaultCompressor(typesize) {
  return { name: "blosc", configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize, blocksize: 0 } };
}

const DTYPES = new Map([
  [Float64Array, "float64"],
  [Float32Array, "float32"],
  [Int8Array, "int8"],
  [Int16Array, "int16"],
  [Int32Array, "int32"],
  [BigInt64Array, "int64"],
  [Uint8Array, "uint8"],
  [Uint16Array, "uint16"],
  [Uint32Array, "uint32"],
  [BigUint64Array, "uint64"],
]);

function cStrides(shape) {
  const stride = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) stride[i] = stride[i + 1] * shape[i + 1];
  return stride;
}

/** Nested number arrays -> shape and one Float64Array (what a TS saver must do before zarr.set). */
function fromNested(root) {
  const shape = [];
  for (let node = root; Array.isArray(node); node = node[0]) shape.push(node.length);
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  let n = 0;
  const walk = (node, level) => {
    if (!Array.isArray(node) || node.length !== shape[level]) throw new Error("ragged data");
    if (level === shape.length - 1) {
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        if (typeof v !== "number") throw new Error(`not a number: ${String(v)}`);
        out[n++] = v;
      }
      return;
    }
    for (let i = 0; i < node.length; i++) walk(node[i], level + 1);
  };
  walk(root, 0);
  return { data: out, shape, stride: cStrides(shape) };
}

/** Data in any of the forms the bench uses -> a zarrita chunk `{ data, shape, stride }`. */
function toChunk(data) {
  if (ArrayBuffer.isView(data)) return { data, shape: [data.length], stride: [1] };
  if (Array.isArray(data)) return fromNested(data);
  if (data && ArrayBuffer.isView(data.data) && Array.isArray(data.shape)) {
    return { data: data.data, shape: [...data.shape], stride: cStrides(data.shape) };
  }
  throw new Error("data must be a typed array, nested number arrays or { data, shape }");
}

function dtypeOf(chunk) {
  const dtype = DTYPES.get(chunk.data.constructor);
  if (!dtype) throw new Error(`unsupported ${chunk.data.constructor.name}`);
  return dtype;
}

/** zarr-saver's default chunking: full trailing axes, about 1 MiB per chunk. */
function defaultChunks(shape, itemsize) {
  const row = shape.slice(1).reduce((a, b) => a * b, 1) * itemsize;
  let rows = 1;
  while (rows * row < 1 << 20) rows *= 2;
  return [rows, ...shape.slice(1)];
}

export class ZarritaSaver {
  /**
   * @param {string} filePath local directory of the hierarchy
   * @param {{ datasetName?: string, approach?: "append" | "overwrite" | "update" }} [options]
   */
  constructor(filePath, { datasetName = "dataset", approach = "append" } = {}) {
    this.filePath = filePath;
    this.datasetName = datasetName;
    this.approach = approach;
    this.store = new FileSystemStore(filePath);
    this.location = zarr.root(this.store).resolve(datasetName);
  }

  async #metadata() {
    try {
      return JSON.parse(await readFile(join(this.filePath, this.datasetName, "zarr.json"), "utf8"));
    } catch (err) {
      if (err.code === "ENOENT") return undefined;
      throw err;
    }
  }

  async #writeMetadata(meta) {
    await writeFile(join(this.filePath, this.datasetName, "zarr.json"), JSON.stringify(meta, null, 2));
  }

  async #ensureRootGroup() {
    await mkdir(this.filePath, { recursive: true });
    const path = join(this.filePath, "zarr.json");
    await writeFile(path, JSON.stringify({ zarr_format: 3, node_type: "group", attributes: {} }), { flag: "wx" }).catch((err) => {
      if (err.code !== "EEXIST") throw err;
    });
  }

  async #create(chunk, options) {
    await this.#ensureRootGroup();
    const dtype = dtypeOf(chunk);
    const itemsize = chunk.data.BYTES_PER_ELEMENT;
    const compressor = options.compressor === undefined ? defaultCompressor(itemsize) : options.compressor;
    const codecs = [{ name: "bytes", configuration: { endian: "little" } }, ...(compressor ? [compressor] : [])];
    const arr = await zarr.create(this.location, {
      shape: chunk.shape,
      chunkShape: options.chunks ? [...options.chunks] : defaultChunks(chunk.shape, itemsize),
      dtype,
      codecs,
      fillValue: 0,
    });
    await zarr.set(arr, null, chunk);
    return { shape: chunk.shape, dtype, region: chunk.shape.map((n) => [0, n]), created: true };
  }

  async #append(meta, chunk) {
    const old = meta.shape;
    if (chunk.shape.length !== old.length || chunk.shape.some((n, d) => d > 0 && n !== old[d])) {
      throw new Error(`cannot append shape [${chunk.shape}] to [${old}]`);
    }
    const start = old[0];
    meta.shape = [start + chunk.shape[0], ...old.slice(1)];
    await this.#writeMetadata(meta);
    const arr = await zarr.open.v3(this.location, { kind: "array" });
    await zarr.set(arr, [zarr.slice(start, start + chunk.shape[0]), ...old.slice(1).map(() => null)], chunk);
    return {
      shape: meta.shape,
      dtype: meta.data_type,
      region: meta.shape.map((n, d) => (d === 0 ? [start, n] : [0, n])),
      created: false,
    };
  }

  async #update(meta, chunk, indices) {
    const arr = await zarr.open.v3(this.location, { kind: "array" });
    const rest = meta.shape.slice(1).map(() => null);
    if (typeof indices === "number") {
      await zarr.set(arr, [indices, ...rest], { ...chunk, shape: chunk.shape.slice(1), stride: chunk.stride.slice(1) });
    } else if (Array.isArray(indices)) {
      // No integer-list selection in zarrita: one read-modify-write per row, in turn.
      const rowShape = chunk.shape.slice(1);
      const rowLen = rowShape.reduce((a, b) => a * b, 1);
      const stride = cStrides(rowShape);
      for (let k = 0; k < indices.length; k++) {
        const data = chunk.data.subarray(k * rowLen, (k + 1) * rowLen);
        await zarr.set(arr, [indices[k], ...rest], { data, shape: rowShape, stride });
      }
    } else {
      await zarr.set(arr, [zarr.slice(indices.start ?? null, indices.stop ?? null, indices.step ?? null), ...rest], chunk);
    }
    return { shape: meta.shape, dtype: meta.data_type, created: false };
  }

  /**
   * @param data a typed array, nested number arrays, or `{ data, shape }`
   * @param {{ indices?: number | number[] | { start?: number, stop?: number, step?: number },
   *           chunks?: number[], compressor?: object | null }} [options]
   */
  async save(data, options = {}) {
    const chunk = toChunk(data);
    switch (this.approach) {
      case "overwrite":
        await rm(join(this.filePath, this.datasetName), { recursive: true, force: true });
        return this.#create(chunk, options);
      case "append": {
        const meta = await this.#metadata();
        return meta ? this.#append(meta, chunk) : this.#create(chunk, options);
      }
      case "update": {
        const meta = await this.#metadata();
        if (!meta) throw new Error(`dataset '${this.datasetName}' does not exist`);
        if (options.indices === undefined) throw new Error("update needs indices");
        return this.#update(meta, chunk, options.indices);
      }
      default:
        throw new Error(`unknown approach '${this.approach}'`);
    }
  }
}
