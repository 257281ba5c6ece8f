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
  | { id: string; [key: string]: unknown }
  | { name: string; configuration?: Record<string, unknown> };

/** Blosc compressor names. */
export type BloscCname = "lz4" | "lz4hc" | "blosclz" | "zstd" | "zlib" | "snappy";
/** numcodecs shuffle (0 none, 1 byte, 2 bit, -1 auto) or its v3 name. */
export type BloscShuffle = -1 | 0 | 1 | 2 | "noshuffle" | "shuffle" | "bitshuffle";

/** Blosc; defaults copy numcodecs.Blosc (lz4, clevel 5, byte shuffle, automatic blocksize). */
export class Blosc {
  readonly id = "blosc";
  readonly cname: BloscCname;
  readonly clevel: number;
  readonly shuffle: BloscShuffle;
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
  readonly id = "zstd";
  readonly level: number;
  readonly checksum: boolean;
  constructor({ level = 1, checksum = false }: Partial<Omit<Zstd, "id">> = {}) {
    this.level = level;
    this.checksum = checksum;
  }
}

/** gzip; default level 1 as in numcodecs.GZip. */
export class GZip {
  readonly id = "gzip";
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
