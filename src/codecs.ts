/**
 * Compressor and filter configs. Both spellings are accepted everywhere:
 * numcodecs (`{ id: "blosc", cname, clevel, shuffle, blocksize }`) and Zarr v3
 * (`{ name, configuration }`). The classes below build the numcodecs form with
 * numcodecs' own defaults.
 */
import { InvalidArgumentError } from "./errors.js";

/** A codec config: one of the classes below, numcodecs JSON, or Zarr v3 JSON. */
export type CodecConfig =
  | Blosc
  | Zstd
  | GZip
  | {
      /** numcodecs codec id (`"blosc"`, `"zstd"`, `"gzip"`, `"bitround"` ...). */
      id: string;
      [key: string]: unknown;
    }
  | {
      /** Zarr v3 codec name (`"blosc"`, `"zstd"`, `"transpose"` ...). */
      name: string;
      /** Zarr v3 codec configuration. */
      configuration?: Record<string, unknown>;
    };

/** Blosc compressor names. */
export type BloscCname = "lz4" | "lz4hc" | "blosclz" | "zstd" | "zlib" | "snappy";
/** numcodecs shuffle (0 none, 1 byte, 2 bit, -1 auto) or its v3 name. */
export type BloscShuffle = -1 | 0 | 1 | 2 | "noshuffle" | "shuffle" | "bitshuffle";

/** Blosc; defaults copy numcodecs.Blosc (lz4, clevel 5, byte shuffle, automatic blocksize). */
export class Blosc {
  /** numcodecs codec id. */
  readonly id = "blosc";
  /** Compressor inside blosc. Default `"lz4"`. */
  readonly cname: BloscCname;
  /** Compression level, 0 (none) to 9. Default 5. */
  readonly clevel: number;
  /** Shuffle before compressing. Default 1 (byte shuffle). */
  readonly shuffle: BloscShuffle;
  /** Bytes per blosc block; 0 lets the writer choose. Default 0. */
  readonly blocksize: number;
  constructor({ cname = "lz4", clevel = 5, shuffle = 1, blocksize = 0 }: Partial<Omit<Blosc, "id">> = {}) {
    this.cname = cname;
    this.clevel = clevel;
    this.shuffle = shuffle;
    this.blocksize = blocksize;
  }
}

/** Zstandard; default level 1 as in numcodecs.Zstd. */
export class Zstd {
  /** numcodecs codec id. */
  readonly id = "zstd";
  /** Compression level. Default 1. */
  readonly level: number;
  /** Store a checksum of each chunk's content. Default false. */
  readonly checksum: boolean;
  constructor({ level = 1, checksum = false }: Partial<Omit<Zstd, "id">> = {}) {
    this.level = level;
    this.checksum = checksum;
  }
}

/** gzip; default level 1 as in numcodecs.GZip. */
export class GZip {
  /** numcodecs codec id. */
  readonly id = "gzip";
  /** Compression level, 0 to 9. Default 1. */
  readonly level: number;
  constructor({ level = 1 }: Partial<Omit<GZip, "id">> = {}) {
    this.level = level;
  }
}

/** A plain JSON copy of a codec config, checked for shape; the core checks the values. */
export function codecJson(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${field} must be a codec object such as new Blosc() or { id: "zstd" }; got ${String(value)}`);
  }
  const v = value as Record<string, unknown>;
  if (typeof v.id !== "string" && typeof v.name !== "string") {
    throw new InvalidArgumentError(`${field} needs an 'id' (numcodecs) or a 'name' (Zarr v3); got ${JSON.stringify(value)}`);
  }
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}
