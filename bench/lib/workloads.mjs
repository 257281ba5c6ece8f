/**
 * The workloads of `npm run bench`, their sizes (full and --quick) and codecs, and the
 * job objects every contender receives. A job is plain JSON so that the Node, Python
 * and Rust contenders read the same description of the same work.
 */

const COLS = 16;
/** Chunks of 8192 x 16 float64: 1 MiB, zarr-saver's default for this shape. */
const CHUNK_ROWS = 8192;

/** Codecs in Zarr v3 spelling, understood as-is by zarr-saver, zarrita (see zarrita-saver.mjs) and zarr-python. */
export const CODECS = {
  "blosc-lz4": {
    name: "blosc",
    configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize: 8, blocksize: 0 },
  },
  "zstd-3": { name: "zstd", configuration: { level: 3, checksum: false } },
  none: null,
};

const FULL = {
  bulkRows: 2_000_000,
  appendSaves: 5_000,
  appendRows: 100,
  updateTemplateRows: 1_000_000,
  updateCount: 10_000,
  flatCount: 1_000_000,
  nestedRows: 100_000,
  /** A contender that would need longer than this on a capped workload does less of it, scaled and flagged. */
  budgetSeconds: 60,
  reps: 5,
  /** Timed saves per process for the short workloads (W1, W3, W4); the fastest counts. */
  repeats: 3,
  /** W2 and W3 take minutes per repetition across contenders: fewer repetitions. */
  slowReps: 3,
};

const QUICK = {
  bulkRows: 65_536,
  appendSaves: 100,
  appendRows: 100,
  updateTemplateRows: 65_536,
  updateCount: 500,
  flatCount: 100_000,
  nestedRows: 10_000,
  budgetSeconds: 3,
  reps: 1,
  repeats: 2,
  slowReps: 1,
};

export function sizes(quick) {
  return quick ? QUICK : FULL;
}

/** Rows the shared data file must hold for these sizes. */
export function dataRows(s) {
  return Math.max(
    s.bulkRows,
    s.appendSaves * s.appendRows,
    s.updateTemplateRows + s.updateCount,
    Math.ceil(s.flatCount / COLS),
    s.nestedRows,
  );
}

/**
 * The workloads, in report order. `capped`: contenders known to be far slower
 * (zarrita's per-row update, per-save overheads) may stop at the time budget;
 * their rate is then measured on the part they did and flagged.
 */
export function workloads(s) {
  const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const bulk = (codec, label) => ({
    id: `W1 ${label}`,
    kind: "bulk",
    codec: CODECS[codec],
    codecName: codec,
    rows: s.bulkRows,
    bytes: s.bulkRows * COLS * 8,
    eventLoop: true,
    describe: `one save of [${s.bulkRows}, ${COLS}] float64 (${mb(s.bulkRows * COLS * 8)}), ${label}`,
  });
  return [
    bulk("blosc-lz4", "blosc lz4"),
    bulk("zstd-3", "zstd 3"),
    bulk("none", "uncompressed"),
    {
      id: "W2 appends",
      kind: "append",
      codec: CODECS["blosc-lz4"],
      codecName: "blosc-lz4",
      saves: s.appendSaves,
      rowsPerSave: s.appendRows,
      bytes: s.appendSaves * s.appendRows * COLS * 8,
      capped: true,
      describe: `${s.appendSaves} saves of [${s.appendRows}, ${COLS}] float64 appended to one array`,
    },
    {
      id: "W3 updates",
      kind: "update",
      codec: CODECS["blosc-lz4"],
      codecName: "blosc-lz4",
      templateRows: s.updateTemplateRows,
      count: s.updateCount,
      bytes: s.updateCount * COLS * 8,
      capped: true,
      describe: `one save of ${s.updateCount} random distinct rows into [${s.updateTemplateRows}, ${COLS}]`,
    },
    {
      id: "W4 number[]",
      kind: "convert-flat",
      codec: CODECS["blosc-lz4"],
      codecName: "blosc-lz4",
      count: s.flatCount,
      bytes: s.flatCount * 8,
      describe: `one save of ${s.flatCount} plain JS numbers (zarr-python: np.array(list))`,
    },
    {
      id: "W4 nested",
      kind: "convert-nested",
      codec: CODECS["blosc-lz4"],
      codecName: "blosc-lz4",
      rows: s.nestedRows,
      bytes: s.nestedRows * COLS * 8,
      describe: `one save of nested arrays [${s.nestedRows}][${COLS}] (zarr-python: np.array(list of lists))`,
    },
  ];
}

/**
 * The JSON job a contender process receives for workload `w`: `container` is the
 * Zarr hierarchy it writes (dataset "data"; for updates, a copy of the template),
 * `out` a scratch directory of its own.
 */
export function job(w, s, paths, out, container) {
  const chunks = w.kind === "convert-flat" ? [CHUNK_ROWS * COLS] : [CHUNK_ROWS, COLS];
  return {
    id: w.id,
    kind: w.kind,
    codec: w.codec,
    chunks,
    cols: COLS,
    dataFile: paths.dataFile,
    out,
    rows: w.rows,
    saves: w.saves,
    rowsPerSave: w.rowsPerSave,
    templateRows: w.templateRows,
    count: w.count,
    container,
    indicesFile: paths.indicesFile,
    budgetSeconds: w.capped ? s.budgetSeconds : undefined,
    repeats: w.kind === "append" ? 1 : s.repeats,
    eventLoop: w.eventLoop ?? false,
  };
}

export { CHUNK_ROWS, COLS };
