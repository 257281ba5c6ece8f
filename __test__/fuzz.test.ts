// Fuzzing the core with random valid and broken Zarr v2/v3 metadata and chunk bytes:
// appends and updates against them, in child processes under a 3 GiB address-space
// limit and a time limit, may only succeed with the right shape or fail with a coded
// error that leaves every byte as it was; never abort, never hang.
// ZARR_SAVER_FUZZ_CASES sizes the run (default 2000); ZARR_SAVER_FUZZ_SEED replays one.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { expect, it } from "vitest";
import { runLimited } from "./helpers/limited.js";
import { tempDir } from "./helpers/tmp.js";

const CASES = Number(process.env.ZARR_SAVER_FUZZ_CASES ?? 2000);
const SEED = Number(process.env.ZARR_SAVER_FUZZ_SEED ?? Date.now() % 2 ** 31);
const BATCH = 250;
const BATCH_TIME_LIMIT_MS = 180_000;

/** `arbitrary` once in `n` cases, else null. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

/** Numbers JSON can hold but JavaScript cannot: written as their digits. */
const BIG = ["18446744073709551615", "18446744073709551610", "9223372036854775808"];

const extent = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: 1, max: 9 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 20, 2 ** 31, 2 ** 40, 2 ** 53) },
  { weight: 1, arbitrary: fc.constantFrom(...BIG.map((b) => `BIG:${b}`)) },
);

const DTYPES: [string, string][] = [
  ["float64", "<f8"],
  ["float32", "<f4"],
  ["int32", "<i4"],
  ["int64", "<i8"],
  ["uint8", "|u1"],
];

const v3Codec = fc.constantFrom<unknown>(
  { name: "blosc", configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize: 8, blocksize: 0 } },
  { name: "zstd", configuration: { level: 0, checksum: false } },
  { name: "gzip", configuration: { level: 1 } },
  { name: "crc32c" },
  { name: "no-such-codec" },
);

const v2Compressor = fc.constantFrom<unknown>(
  null,
  { id: "blosc", cname: "lz4", clevel: 5, shuffle: 1, blocksize: 0 },
  { id: "zstd", level: 1 },
  { id: "gzip", level: 1 },
  { id: "no-such-codec" },
);

/** A metadata document: mostly valid, then perhaps broken by a few mutations. */
const document = fc
  .record({
    format: fc.constantFrom(2, 3),
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(extent, { minLength: 1, maxLength: 3 }),
    chunks: fc.array(extent, { minLength: 1, maxLength: 3 }),
    sameRank: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    codec: fc.option(v3Codec),
    compressor: v2Compressor,
    // Shards of k inner chunks each, sometimes with an inner chunk shape that does not fit.
    shardFactor: rarely(fc.integer({ min: 1, max: 3 }), 4),
    badInner: rarely(fc.array(extent, { minLength: 1, maxLength: 3 }), 5),
    fill: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom<unknown>(0, 1) },
      { weight: 1, arbitrary: fc.constant("NaN") },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    ),
    mutations: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.record({
            key: fc.constantFrom(
              "shape",
              "chunks",
              "chunk_grid",
              "codecs",
              "data_type",
              "dtype",
              "fill_value",
              "zarr_format",
              "node_type",
              "compressor",
              "filters",
              "order",
              "storage_transformers",
            ),
            value: fc.option(fc.jsonValue({ maxDepth: 3 })),
          }),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
    raw: rarely(
      fc.oneof(
        fc.string(),
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1")),
      ),
      20,
    ),
  })
  .map((g) => {
    const rank = g.shape.length;
    const ranked = (dims: unknown[]) => (g.sameRank ? Array.from({ length: rank }, (_, i) => dims[i % dims.length]) : dims);
    const chunks = ranked(g.chunks);
    let doc: Record<string, unknown>;
    if (g.format === 3) {
      const inner = [{ name: "bytes", configuration: { endian: "little" } }, ...(g.codec ? [g.codec] : [])];
      const k = g.shardFactor;
      const codecs = k
        ? [
            {
              name: "sharding_indexed",
              configuration: {
                chunk_shape: g.badInner ? ranked(g.badInner) : chunks,
                codecs: inner,
                index_codecs: [{ name: "bytes", configuration: { endian: "little" } }, { name: "crc32c" }],
                index_location: "end",
              },
            },
          ]
        : inner;
      doc = {
        zarr_format: 3,
        node_type: "array",
        shape: g.shape,
        data_type: g.dtype[0],
        chunk_grid: {
          name: "regular",
          configuration: { chunk_shape: k ? chunks.map((c) => (typeof c === "number" ? c * k : c)) : chunks },
        },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        fill_value: g.fill,
        codecs,
        attributes: {},
      };
    } else {
      doc = {
        zarr_format: 2,
        shape: g.shape,
        chunks,
        dtype: g.dtype[1],
        compressor: g.compressor,
        fill_value: g.fill,
        order: "C",
        filters: null,
      };
    }
    for (const m of g.mutations) {
      if (m.value === null) delete doc[m.key];
      else doc[m.key] = m.value;
    }
    const text = g.raw ?? JSON.stringify(doc).replace(/"BIG:(\d+)"/g, "$1");
    return { format: g.format, text, shape: g.shape };
  });

/** Chunk files: random bytes, or a blosc header with random sizes, at chunk keys near the origin. */
const chunkFile = fc.record({
  index: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 64 })).map(([nbytes, rest]) => {
      const header = Buffer.alloc(16);
      header.writeUInt8(2, 0);
      header.writeUInt8(1, 1);
      header.writeUInt8(1, 2);
      header.writeUInt8(8, 3);
      header.writeUInt32LE(nbytes, 4);
      header.writeUInt32LE(Math.min(nbytes, 2 ** 16), 8);
      header.writeUInt32LE(16 + rest.length, 12);
      return new Uint8Array(Buffer.concat([header, rest]));
    }),
  ),
  directory: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});

const operation = fc.record({
  approach: fc.constantFrom("append", "update"),
  rows: fc.integer({ min: 1, max: 4 }),
  indices: fc.array(fc.integer({ min: -3, max: 12 }), { minLength: 1, maxLength: 3 }),
  sync: fc.boolean(),
  trailing: rarely(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }), 5),
});

const fuzzCase = fc.record({ doc: document, chunks: fc.array(chunkFile, { maxLength: 3 }), op: operation });
type FuzzCase = typeof fuzzCase extends fc.Arbitrary<infer T> ? T : never;

/** Write the case's store under a new directory; return the saves to run against it. */
function materialise(c: FuzzCase) {
  const root = tempDir("zarr-fuzz-");
  const node = join(root, "d");
  mkdirSync(node, { recursive: true });
  writeFileSync(join(node, c.doc.format === 3 ? "zarr.json" : ".zarray"), c.doc.text, "latin1");
  for (const chunk of c.chunks) {
    const key = c.doc.format === 3 ? join("c", ...chunk.index.map(String)) : chunk.index.join(".");
    const path = join(node, key);
    try {
      mkdirSync(dirname(path), { recursive: true });
      if (chunk.directory) mkdirSync(path, { recursive: true });
      else writeFileSync(path, chunk.bytes);
    } catch {
      // Another chunk of this case took the path (a file where a directory goes, or the reverse).
    }
  }
  // Rows of the stored trailing shape where it is small, else a few made-up axes.
  const small = c.doc.shape.every((d) => typeof d === "number" && d > 0 && d < 10);
  const trailing = c.op.trailing ?? (small ? (c.doc.shape.slice(1) as number[]) : [2]);
  const rows = c.op.approach === "append" ? c.op.rows : c.op.indices.length;
  const shape = [rows, ...trailing];
  const count = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: count }, (_, i) => i % 2);
  return {
    root,
    dataset: "d",
    approach: c.op.approach,
    data: { dtype: "float64", values, shape },
    options: c.op.approach === "update" ? { indices: c.op.indices } : {},
    sync: c.op.sync,
  };
}

it(`${CASES} random stores: coded errors or correct saves, never an abort or a hang`, { timeout: 3_600_000 }, async () => {
  const failures: string[] = [];
  const outcomes: Record<string, number> = {};
  await fc
    .assert(
      // Each run is one batch of cases drawn from its own seed, so a failure prints one number.
      fc.asyncProperty(fc.integer(), async (batchSeed) => {
        const cases = fc.sample(fuzzCase, { seed: batchSeed, numRuns: BATCH });
        const saves = cases.map(materialise);
        const run = await runLimited(saves, tempDir(), BATCH_TIME_LIMIT_MS);
        const problems: string[] = [];
        if (run.timedOut) problems.push("the child hung");
        if (run.code !== 0) problems.push(`the child exited with ${run.code ?? run.signal}: ${run.err.slice(-2000)}`);
        for (const line of run.lines) {
          const outcome = line.ok ? "saved" : String(line.code);
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          const c = cases[line.index as number] as FuzzCase;
          const shown = { doc: c.doc.text.slice(0, 400), chunks: c.chunks.length, op: c.op };
          const why = `batch seed ${batchSeed} case ${String(line.index)} ${JSON.stringify(shown)}: ${JSON.stringify(line)}`;
          if (line.ok) {
            // The shape the document says, mutations included (a save succeeded, so it parses).
            const stored = (JSON.parse(c.doc.text) as { shape: number[] }).shape;
            const expected = c.op.approach === "append" ? [(stored[0] ?? 0) + c.op.rows, ...stored.slice(1)] : stored;
            if (JSON.stringify(line.shape) !== JSON.stringify(expected)) problems.push(`wrong shape in ${why}`);
          } else {
            const code = String(line.code);
            if (!/^ERR_ZARR_/.test(code) || code === "ERR_ZARR_INTERNAL" || /native core failed/.test(String(line.message))) {
              problems.push(`uncoded or internal error in ${why}`);
            }
            if (line.unchanged !== true) problems.push(`the store changed in ${why}`);
          }
        }
        if (run.lines.length !== cases.length && problems.length === 0) problems.push("the child stopped early");
        failures.push(...problems);
        return problems.length === 0;
      }),
      { seed: SEED, numRuns: Math.max(1, Math.ceil(CASES / BATCH)), endOnFailure: true },
    )
    .catch((err: unknown) => {
      throw new Error(
        `fuzz failed (replay with ZARR_SAVER_FUZZ_SEED=${SEED}):\n${failures.slice(0, 5).join("\n")}\n${String(err)}`,
      );
    });
  // The generator must keep producing stores a save succeeds on, or the run proves little.
  expect(outcomes.saved ?? 0, JSON.stringify(outcomes)).toBeGreaterThan(CASES / 20);
});
