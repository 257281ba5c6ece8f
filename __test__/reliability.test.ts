/**
 * Reliability: many writers, crashes and bad input lose nothing.
 *
 * - several processes appending to one local dataset lose and tear no batch;
 * - SIGKILL at random moments during append / update / overwrite leaves a dataset
 *   that zarr-saver, zarrita and zarr-python open, holding every resolved save whole;
 * - a full disk (ENOSPC on a small tmpfs) fails with StoreError and changes nothing;
 * - dataset names and symlinks never let a save escape filePath;
 * - an AbortSignal cancels a long save and leaves the old array; onProgress adds up.
 *
 * Stress sizes (4 x 200 appends, 50 kills per approach) run when CI=true or
 * ZARR_SAVER_STRESS=1; otherwise lighter defaults. Child processes import the built
 * package ("zarr-saver" -> dist/), so run `npm run build` after changing src/ or native/.
 * Kill timings come from a seeded PRNG: ZARR_SAVER_SEED=<n> replays a run.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as Binding from "../index.js";
import {
  DatasetNotFoundError,
  InvalidArgumentError,
  type SaveOptions,
  type SaveProgress,
  StoreError,
  slice,
  ZarrSaver,
  ZarrSaverError,
  Zstd,
} from "../src/index.js";
import {
  APPEND_CHUNKS,
  APPEND_COLS,
  appendRowCount,
  appendRows,
  CRASH_APPEND_CHUNKS,
  overwriteVariant,
  UPDATE_CHUNKS,
  UPDATE_SHAPE,
  updateGeneration,
  updateSave,
  updateValue,
} from "./fixtures/reliability-batches.mjs";
import { mulberry32 } from "./helpers/prng.js";
import { runPython } from "./helpers/python.js";
import { readZarrita } from "./helpers/read.js";
import { thrown } from "./helpers/thrown.js";
import { settleFiles, snapshotTree, tempDir } from "./helpers/tmp.js";

// ---------------------------------------------------------------- configuration

const flag = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
const STRESS = flag(process.env.ZARR_SAVER_STRESS) || flag(process.env.CI);
const WRITERS = 4;
const BATCHES_PER_WRITER = STRESS ? 200 : 50;
const KILLS = STRESS ? 50 : 12;
/** zarr-python reads a copy of the dataset after every PY_EVERY-th kill (and at the end). */
const PY_EVERY = 5;
const SEED = Number(process.env.ZARR_SAVER_SEED ?? Date.now() % 2 ** 31);

const ROOT = join(import.meta.dirname, "..");
const TEMP_PREFIX = ".zarr-saver-tmp-";
const fixture = (name: string): string => join(import.meta.dirname, "fixtures", name);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  // The children import the built package; a missing build would look like a library failure.
  if (!existsSync(join(ROOT, "dist", "index.js"))) throw new Error("dist/ is missing: run `npm run build` first");
});

// ---------------------------------------------------------------- helpers

/** The reason `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, but the save resolved with ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}

/**
 * snapshotTree with each file's bytes as size + SHA-256: the same byte-for-byte
 * comparison ("ignore nothing"), with diffs short enough to read.
 */
function digestTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, b64] of Object.entries(snapshotTree(root))) {
    const bytes = Buffer.from(b64, "base64");
    out[path] = `${bytes.length} bytes, sha256 ${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`;
  }
  return out;
}

/** Every entry under `root` (directories too, links not followed): what a save could have created. */
function listTree(root: string): string[] {
  settleFiles();
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      out.push(`${relative(root, path)}${st.isDirectory() ? "/" : st.isSymbolicLink() ? "@" : ""}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk(root);
  return out;
}

/** Leftovers of interrupted saves (temp files, staging directories). */
function tempEntries(root: string): string[] {
  return listTree(root).filter((p) => p.split("/").some((s) => s.startsWith(TEMP_PREFIX)));
}

/** A whole array read by zarrita, or null when there is no array metadata. */
async function readOrNull(root: string, path: string): Promise<{ shape: number[]; dtype: string; values: unknown[] } | null> {
  if (!existsSync(join(root, path, "zarr.json")) && !existsSync(join(root, path, ".zarray"))) return null;
  const { data, shape, dtype } = await readZarrita(root, path);
  return { shape, dtype, values: Array.from(data) };
}

/** What zarr-python reads from each (root, path): shape, dtype and flat values, or the error it raised. */
interface PyRead {
  shape?: number[];
  dtype?: string;
  values?: unknown[];
  error?: string;
}
function readWithPython(specs: { root: string; path: string }[]): PyRead[] {
  return runPython<PyRead[]>(
    `
import json, sys
import numpy as np
import zarr
out = []
for spec in json.loads(sys.argv[1]):
    try:
        a = zarr.open_array(store=spec["root"], path=spec["path"], mode="r")
        out.append({"shape": list(a.shape), "dtype": str(a.dtype), "values": np.asarray(a[...]).ravel().tolist()})
    except Exception as e:
        out.append({"error": f"{type(e).__name__}: {e}"})
print(json.dumps(out))
`,
    [JSON.stringify(specs)],
  );
}

/** A child node process running `script`, collecting the numbers it prints one per line. */
interface Writer {
  child: ChildProcess;
  printed: number[];
  firstLine: Promise<void>;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}
/** Children still running; a failed or timed-out test must not leave a crash writer looping. */
const live = new Set<ChildProcess>();
afterAll(() => {
  for (const child of live) child.kill("SIGKILL");
});

function startNode(args: string[]): Writer {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  const printed: number[] = [];
  let out = "";
  let err = "";
  let first!: () => void;
  const firstLine = new Promise<void>((resolve) => {
    first = resolve;
  });
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      printed.push(line === "done" ? Number.NaN : Number(line));
      first();
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => {
      live.delete(child);
      first();
      resolve({ code, signal });
    });
  });
  return { child, printed, firstLine, closed, stderr: () => err };
}

/**
 * SIGKILL the writer at a random moment: mostly while it saves in a loop (a short
 * random delay after its first resolved save), sometimes early, during start-up or
 * its first save (where a create, or the cleanup of an earlier crash, runs).
 */
async function killAtRandom(w: Writer, rand: () => number): Promise<void> {
  if (rand() < 0.25) {
    await sleep(rand() * 300);
  } else {
    await Promise.race([w.firstLine, sleep(15_000)]);
    await sleep(rand() * 40);
  }
  w.child.kill("SIGKILL");
  const { code, signal } = await w.closed;
  if (signal !== "SIGKILL") throw new Error(`the writer exited by itself (code ${code}, signal ${signal}):\n${w.stderr()}`);
}

/** Rows (of `width` elements) where `values` differ from `old`. */
function changedRows(values: readonly unknown[], old: ArrayLike<number>, width: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < old.length; i++) if (values[i] !== old[i]) out.add(Math.floor(i / width));
  return [...out];
}

const rows = (values: readonly unknown[], width: number): number[][] =>
  Array.from({ length: values.length / width }, (_, i) => values.slice(i * width, (i + 1) * width).map(Number));

// ---------------------------------------------------------------- 1. many processes

describe("several processes append to one local dataset", () => {
  it(`${WRITERS} processes x ${BATCHES_PER_WRITER} appends: every batch present once, whole and contiguous`, async () => {
    const root = tempDir("zarr-saver-multi-");
    const dataset = "runs/shared";
    const maxRows = 5;
    const writers = Array.from({ length: WRITERS }, (_, w) =>
      startNode([fixture("append-writer.mjs"), root, dataset, String(w), String(BATCHES_PER_WRITER), String(maxRows)]),
    );
    for (const [w, writer] of writers.entries()) {
      const { code } = await writer.closed;
      expect({ writer: w, code, stderr: writer.stderr() }).toEqual({ writer: w, code: 0, stderr: "" });
      expect(writer.printed).toHaveLength(1); // "done"
    }

    const view = await readOrNull(root, dataset);
    if (!view) throw new Error("no dataset after the writers finished");
    let expectedRows = 0;
    for (let w = 0; w < WRITERS; w++) for (let k = 0; k < BATCHES_PER_WRITER; k++) expectedRows += appendRowCount(w, k, maxRows);
    expect(view.shape).toEqual([expectedRows, APPEND_COLS]);

    // Cut the rows into runs: a run starts where (writer, batch) changes or row-in-batch is 0.
    const problems: string[] = [];
    const seen = new Map<string, number>();
    const lastBatchOf = new Map<number, number>();
    const all = rows(view.values, APPEND_COLS);
    for (let i = 0; i < all.length; ) {
      const [w, k] = all[i] as [number, number, number];
      let n = 0;
      while (i + n < all.length && all[i + n]?.[0] === w && all[i + n]?.[1] === k && (n === 0 || all[i + n]?.[2] !== 0)) n++;
      const key = `${w}/${k}`;
      const want = appendRowCount(w, k, maxRows);
      const js = all.slice(i, i + n).map((r) => r[2]);
      if (n !== want || !js.every((j, idx) => j === idx))
        problems.push(`rows ${i}..${i + n}: batch ${key} is torn: row ids ${js}`);
      seen.set(key, (seen.get(key) ?? 0) + 1);
      // One writer awaits each save: its batches land in its own order.
      if ((lastBatchOf.get(w) ?? -1) >= k)
        problems.push(`row ${i}: writer ${w}'s batch ${k} after its batch ${lastBatchOf.get(w)}`);
      lastBatchOf.set(w, k);
      i += n;
    }
    for (let w = 0; w < WRITERS; w++) {
      for (let k = 0; k < BATCHES_PER_WRITER; k++) {
        const times = seen.get(`${w}/${k}`) ?? 0;
        if (times !== 1) problems.push(`batch ${w}/${k} present ${times} times`);
      }
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBe(WRITERS * BATCHES_PER_WRITER);
    // Clean runs leave no temp files or staging directories behind.
    expect(tempEntries(root)).toEqual([]);

    // zarr-python sees the same array.
    const [py] = readWithPython([{ root, path: dataset }]);
    expect(py?.error).toBeUndefined();
    expect(py?.shape).toEqual(view.shape);
    expect(py?.values).toEqual(view.values);
  }, 120_000);
});

// ---------------------------------------------------------------- 2. crashes

/** One kill's state kept for the batched zarr-python check. */
interface Snapshot {
  kill: number;
  root: string;
  check: (read: { shape: number[]; values: unknown[] }) => string[];
}

/** Copy the container (kills are checked by zarr-python later, in one run). */
function keepCopy(root: string, into: string, kill: number): string {
  const copy = join(into, `kill-${kill}`);
  // The last save's displaced files may still be going (docs/DECISIONS.md, Safety).
  settleFiles();
  cpSync(root, copy, { recursive: true, verbatimSymlinks: true });
  return copy;
}

function pythonCheck(snaps: Snapshot[], dataset: string): void {
  const reads = readWithPython(snaps.map((s) => ({ root: s.root, path: dataset })));
  const problems: string[] = [];
  reads.forEach((read, i) => {
    const snap = snaps[i] as Snapshot;
    if (read.error || !read.shape || !read.values) problems.push(`kill ${snap.kill}: zarr-python: ${read.error}`);
    else
      problems.push(
        ...snap.check({ shape: read.shape, values: read.values }).map((p) => `kill ${snap.kill} (zarr-python): ${p}`),
      );
  });
  expect(problems).toEqual([]);
}

/**
 * Append state after a kill: batches whole, in order, each once; every durable batch
 * (resolved, or seen committed after an earlier kill) there; nothing else but
 * possibly the one in flight. Returns the batch ids present.
 */
function checkAppendState(
  read: { shape: number[]; values: unknown[] } | null,
  durable: ReadonlySet<number>,
  inflight: number,
): { problems: string[]; present: number[] } {
  const problems: string[] = [];
  if (!read) {
    if (durable.size > 0) problems.push(`the dataset is gone, but ${durable.size} saves had resolved`);
    return { problems, present: [] };
  }
  if (read.shape.length !== 2 || read.shape[1] !== APPEND_COLS) problems.push(`shape ${JSON.stringify(read.shape)}`);
  const all = rows(read.values, APPEND_COLS);
  const present: number[] = [];
  for (let i = 0; i < all.length; ) {
    const [w, k] = all[i] as [number, number, number];
    let n = 0;
    while (i + n < all.length && all[i + n]?.[1] === k && (n === 0 || all[i + n]?.[2] !== 0)) n++;
    const js = all.slice(i, i + n).map((r) => r[2]);
    const want = appendRowCount(0, k, 40);
    if (w !== 0 || n !== want || !js.every((j, idx) => j === idx))
      problems.push(`rows ${i}..${i + n}: batch ${k} torn (${n} of ${want} rows: ${js})`);
    if (present.length > 0 && (present.at(-1) as number) >= k) problems.push(`batch ${k} after batch ${present.at(-1)}`);
    present.push(k);
    i += n;
  }
  const have = new Set(present);
  for (const r of durable) if (!have.has(r)) problems.push(`durable batch ${r} is missing`);
  for (const p of present)
    if (!durable.has(p) && p !== inflight) problems.push(`batch ${p} was neither durable nor in flight (${inflight})`);
  return { problems, present };
}

/** Update state after a kill: each row wholly one generation, the last resolved or the one in flight. */
function checkUpdateState(
  read: { shape: number[]; values: unknown[] },
  lastResolved: number,
): { problems: string[]; gens: number[] } {
  const [R, C] = UPDATE_SHAPE;
  const problems: string[] = [];
  if (JSON.stringify(read.shape) !== JSON.stringify(UPDATE_SHAPE)) problems.push(`shape ${JSON.stringify(read.shape)}`);
  const gens: number[] = [];
  for (let r = 0; r < R; r++) {
    const v = read.values.slice(r * C, (r + 1) * C).map(Number);
    const g = updateGeneration(v[0] as number);
    gens.push(g);
    if (!v.every((x, c) => x === updateValue(g, r, c))) problems.push(`row ${r} is torn: ${v}`);
    if (g !== lastResolved && g !== lastResolved + 1)
      problems.push(`row ${r} has generation ${g}; expected ${lastResolved} or ${lastResolved + 1}`);
  }
  return { problems, gens };
}

/** Overwrite state after a kill: exactly the array of one generation among `candidates`. */
function matchOverwrite(read: { shape: number[]; dtype?: string; values: unknown[] }, candidates: number[]): number | undefined {
  return candidates.find((gen) => {
    const want = overwriteVariant(gen);
    if (read.dtype !== undefined && read.dtype !== want.dtype) return false;
    return (
      JSON.stringify(read.shape) === JSON.stringify(want.shape) &&
      read.values.length === want.values.length &&
      read.values.every((v, i) => v === want.values[i])
    );
  });
}

describe("crashes: SIGKILL at random moments loses nothing that resolved", () => {
  // Reported with every failure, to replay the same kill schedule.
  const context = `ZARR_SAVER_SEED=${SEED}`;

  it(`append: ${KILLS} kills, then the dataset holds every resolved batch whole`, async () => {
    const rand = mulberry32(SEED);
    const root = tempDir("zarr-saver-crash-append-");
    const copies = tempDir("zarr-saver-crash-append-copies-");
    const dataset = "crash/append";
    const resolved = new Set<number>();
    const snaps: Snapshot[] = [];
    let next = 0;
    let leftovers = 0;
    let known = new Set<string>();
    let uncommitted = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = startNode([fixture("crash-writer.mjs"), "append", root, dataset, String(next)]);
      await killAtRandom(writer, rand);
      for (const g of writer.printed) resolved.add(g);
      const inflight = writer.printed.length > 0 ? (writer.printed.at(-1) as number) + 1 : next;

      const { problems, present } = checkAppendState(await readOrNull(root, dataset), resolved, inflight);
      expect(problems, `${context}, kill ${kill}`).toEqual([]);
      const temps = tempEntries(root);
      if (temps.some((t) => !known.has(t))) leftovers++;
      known = new Set(temps);
      if (!present.includes(inflight)) uncommitted++;
      // A batch committed without its line printed is durable from now on, like a resolved one.
      for (const p of present) resolved.add(p);
      if (kill % PY_EVERY === PY_EVERY - 1) {
        const frozen = new Set(resolved);
        snaps.push({ kill, root: keepCopy(root, copies, kill), check: (r) => checkAppendState(r, frozen, inflight).problems });
      }

      // A further append works, whatever the kill left behind.
      const gen = present.length > 0 ? (present.at(-1) as number) + 1 : 0;
      await new ZarrSaver(root, { datasetName: dataset }).save(appendRows(0, gen, 40), { chunks: CRASH_APPEND_CHUNKS });
      resolved.add(gen);
      next = gen + 1;
      // ... and removes every temp file the killed writer left.
      settleFiles();
      expect(tempEntries(root), `${context}, kill ${kill}: temp files survived the next append`).toEqual([]);
    }
    const final = checkAppendState(await readOrNull(root, dataset), resolved, -1);
    expect(final.problems, context).toEqual([]);
    expect(final.present).toEqual([...resolved].sort((a, b) => a - b));
    snaps.push({
      kill: KILLS,
      root: keepCopy(root, copies, KILLS),
      check: (r) => checkAppendState(r, new Set(resolved), -1).problems,
    });
    pythonCheck(snaps, dataset);
    console.info(
      `append crashes (${context}): ${KILLS} kills, ${resolved.size} batches, ${uncommitted} kills before the in-flight commit, ${leftovers} left temp files (each removed by the next append)`,
    );
  }, 180_000);

  it(`update: ${KILLS} kills, then every row holds a whole old or new generation`, async () => {
    const rand = mulberry32(SEED + 1);
    const root = tempDir("zarr-saver-crash-update-");
    const copies = tempDir("zarr-saver-crash-update-copies-");
    const dataset = "crash/update";
    const [R, C] = UPDATE_SHAPE;
    const initial = updateSave(0).data;
    await new ZarrSaver(root, { datasetName: dataset }).save(initial, {
      chunks: UPDATE_CHUNKS,
      compressor: new Zstd({ level: 3 }),
    });
    let lastResolved = 0;
    const snaps: Snapshot[] = [];
    let mixed = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = startNode([fixture("crash-writer.mjs"), "update", root, dataset, String(lastResolved + 1)]);
      await killAtRandom(writer, rand);
      if (writer.printed.length > 0) lastResolved = writer.printed.at(-1) as number;

      const read = await readOrNull(root, dataset);
      if (!read) throw new Error(`${context}, kill ${kill}: the dataset is gone`);
      const { problems, gens } = checkUpdateState(read, lastResolved);
      expect(problems, `${context}, kill ${kill}`).toEqual([]);
      if (new Set(gens).size > 1) mixed++;
      if (kill % PY_EVERY === PY_EVERY - 1) {
        const frozen = lastResolved;
        snaps.push({ kill, root: keepCopy(root, copies, kill), check: (r) => checkUpdateState(r, frozen).problems });
      }

      // A further update works.
      const gen = Math.max(...gens) + 1;
      const { data, indices } = updateSave(gen);
      await new ZarrSaver(root, { datasetName: dataset, approach: "update" }).save(data, { indices });
      lastResolved = gen;
      settleFiles();
      expect(tempEntries(root), `${context}, kill ${kill}: temp files survived the next update`).toEqual([]);
    }
    const read = await readOrNull(root, dataset);
    expect(read?.values).toEqual(Array.from({ length: R * C }, (_, i) => updateValue(lastResolved, Math.floor(i / C), i % C)));
    const frozen = lastResolved;
    snaps.push({
      kill: KILLS,
      root: keepCopy(root, copies, KILLS),
      check: (r) => [
        ...checkUpdateState(r, frozen).problems,
        ...(checkUpdateState(r, frozen).gens.every((g) => g === frozen) ? [] : ["not the last generation"]),
      ],
    });
    pythonCheck(snaps, dataset);
    console.info(
      `update crashes (${context}): ${KILLS} kills, ${mixed} left a mix of old and new rows, last generation ${lastResolved}`,
    );
  }, 180_000);

  it(`overwrite: ${KILLS} kills, then the dataset is exactly one of the arrays written`, async () => {
    const rand = mulberry32(SEED + 2);
    const root = tempDir("zarr-saver-crash-overwrite-");
    const copies = tempDir("zarr-saver-crash-overwrite-copies-");
    const dataset = "crash/overwrite";
    const first = overwriteVariant(0);
    await new ZarrSaver(root, { datasetName: dataset, approach: "overwrite" }).save(first.data, first.options);
    let lastResolved = 0;
    const snaps: Snapshot[] = [];
    let staged = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const writer = startNode([fixture("crash-writer.mjs"), "overwrite", root, dataset, String(lastResolved + 1)]);
      await killAtRandom(writer, rand);
      if (writer.printed.length > 0) lastResolved = writer.printed.at(-1) as number;

      const read = await readOrNull(root, dataset);
      if (!read) throw new Error(`${context}, kill ${kill}: the dataset is gone (last resolved generation ${lastResolved})`);
      const candidates = [lastResolved, lastResolved + 1];
      const matched = matchOverwrite(read, candidates);
      expect(
        matched,
        `${context}, kill ${kill}: ${read.dtype} ${JSON.stringify(read.shape)} ${JSON.stringify(read.values.slice(0, 6))}`,
      ).toBeDefined();
      if (tempEntries(root).length > 0) staged++;
      if (kill % PY_EVERY === PY_EVERY - 1) {
        snaps.push({
          kill,
          root: keepCopy(root, copies, kill),
          check: (r) =>
            matchOverwrite(r, candidates) === undefined
              ? [`${JSON.stringify(r.shape)} matches neither generation ${candidates}`]
              : [],
        });
      }

      // A further overwrite works, over whatever staging directory the kill left.
      const gen = (matched ?? lastResolved) + 1;
      const next = overwriteVariant(gen);
      await new ZarrSaver(root, { datasetName: dataset, approach: "overwrite" }).save(next.data, next.options);
      lastResolved = gen;
      expect(
        tempEntries(join(root, "crash")),
        `${context}, kill ${kill}: a staging directory survived the next overwrite`,
      ).toEqual([]);
    }
    const read = await readOrNull(root, dataset);
    expect(read && matchOverwrite(read, [lastResolved])).toBe(lastResolved);
    const frozen = lastResolved;
    snaps.push({
      kill: KILLS,
      root: keepCopy(root, copies, KILLS),
      check: (r) => (matchOverwrite(r, [frozen]) === undefined ? ["not the last array"] : []),
    });
    pythonCheck(snaps, dataset);
    console.info(
      `overwrite crashes (${context}): ${KILLS} kills, ${staged} left a staging directory, last generation ${lastResolved}`,
    );
  }, 180_000);

  it("leftover temp files and staging directories never break a later save", async () => {
    const pid = process.pid; // this process's own temp names, so the leftovers collide with them
    const plant = (dir: string, names: string[]): void => {
      mkdirSync(dir, { recursive: true });
      for (const name of names) writeFileSync(join(dir, name), "half-written garbage \u0000\u0001");
    };
    const counters = Array.from({ length: 64 }, (_, n) => n);
    for (const [dataset, zarrFormat] of [
      ["v3", 3],
      ["v2", 2],
    ] as const) {
      // One container per format: a hierarchy holds one.
      const root = tempDir("zarr-saver-leftovers-");
      const append = new ZarrSaver(root, { datasetName: `g/${dataset}` });
      await append.save(appendRows(0, 0, 40), { chunks: APPEND_CHUNKS, zarrFormat });
      const dir = join(root, "g", dataset);
      const meta = zarrFormat === 3 ? "zarr.json" : ".zarray";
      // Temp files of interrupted metadata and chunk writes ...
      plant(
        dir,
        counters.flatMap((n) => [`${TEMP_PREFIX}${meta}.${pid}.${n}`, `${TEMP_PREFIX}${meta}.1.${n}`]),
      );
      const chunkDir = zarrFormat === 3 ? join(dir, "c", "0") : dir;
      plant(
        chunkDir,
        counters.flatMap((n) => [`${TEMP_PREFIX}0.${pid}.${n}`, `${TEMP_PREFIX}0.0.${pid}.${n}`, `${TEMP_PREFIX}1.${pid}.${n}`]),
      );
      // ... and staging directories of interrupted creates, one holding a whole (other) array.
      const staging = join(root, "g", `${TEMP_PREFIX}${dataset}.${pid}.0`);
      cpSync(dir, staging, { recursive: true });
      mkdirSync(join(root, "g", `${TEMP_PREFIX}${dataset}.${pid}.1.old`), { recursive: true });
      plant(join(root, "g"), [`${TEMP_PREFIX}zarr.json.${pid}.0`]);

      await append.save(appendRows(0, 1, 40));
      let read = await readOrNull(root, `g/${dataset}`);
      expect(read?.values).toEqual([...appendRows(0, 0, 40), ...appendRows(0, 1, 40)].flat());

      const rowsNow = appendRowCount(0, 0, 40) + appendRowCount(0, 1, 40);
      await new ZarrSaver(root, { datasetName: `g/${dataset}`, approach: "update" }).save([[7, 7, 7]], { indices: rowsNow - 1 });
      read = await readOrNull(root, `g/${dataset}`);
      expect(read?.values.slice(-3)).toEqual([7, 7, 7]);

      await new ZarrSaver(root, { datasetName: `g/${dataset}`, approach: "overwrite" }).save([[1, 2, 3]], { zarrFormat });
      read = await readOrNull(root, `g/${dataset}`);
      expect(read).toMatchObject({ shape: [1, 3], values: [1, 2, 3] });
      const [py] = readWithPython([{ root, path: `g/${dataset}` }]);
      expect(py).toMatchObject({ shape: [1, 3], values: [1, 2, 3] });
    }
  });
});

describe("a dataset this process left clean", () => {
  it("still shows a writer that died after this process's last save, and the next save removes what it left", async () => {
    const root = tempDir("zarr-saver-clean-");
    const saver = new ZarrSaver(root, { datasetName: "data" });
    for (let batch = 0; batch < 3; batch++) {
      await saver.save(appendRows(0, batch, 40), { chunks: APPEND_CHUNKS });
      saver.saveSync(appendRows(1, batch, 40));
    }
    settleFiles();
    const dir = join(root, "data");
    // A writer of another process (a pid that cannot run) killed mid-append: its sign in
    // the dataset directory, a chunk in its chunk directory.
    const dead = "99999999-00000000";
    writeFileSync(join(dir, `${TEMP_PREFIX}zarr.json.${dead}.1`), "{");
    writeFileSync(join(dir, "c", "0", `${TEMP_PREFIX}0.${dead}.2`), "half a chunk");
    await saver.save(appendRows(0, 3, 40));
    settleFiles();
    expect(listTree(dir).filter((p) => p.includes(dead))).toEqual([]);
    const read = await readOrNull(root, "data");
    const expected = [0, 1, 2].flatMap((b) => [...appendRows(0, b, 40), ...appendRows(1, b, 40)]);
    expect(read?.values).toEqual([...expected, ...appendRows(0, 3, 40)].flat());
  });
});

describe("process exit", () => {
  it.each(["ends", "calls process.exit()"])(
    "a process that %s right after its saves leaves no hidden temp files behind",
    async (how) => {
      const root = tempDir("zarr-saver-exit-");
      // Displaced files are removed in the background; the exit must wait for that.
      const script = `
        const { ZarrSaver } = require("zarr-saver");
        (async () => {
          const saver = new ZarrSaver(process.argv[1], { datasetName: "d" });
          for (let i = 0; i < 40; i++) {
            await saver.save({ data: new Float64Array(32).fill(i), shape: [2, 16] }, { chunks: [64, 16] });
          }
          if (process.argv[2] === "exit") process.exit(0);
        })();`;
      execFileSync(process.execPath, ["-e", script, root, how === "ends" ? "end" : "exit"], { cwd: ROOT });
      const temps = readdirSync(root, { recursive: true }).filter((p) => String(p).includes(TEMP_PREFIX));
      expect(temps).toEqual([]);
      expect(await readOrNull(root, "d")).toMatchObject({ shape: [80, 16] });
    },
  );
});

// ---------------------------------------------------------------- 3. disk full

describe("disk full (ENOSPC on a 2 MiB tmpfs)", () => {
  let mnt: string | undefined;
  let whyNot = "";
  const filler = (): string => join(mnt as string, "filler");

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), "zarr-saver-tmpfs-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir], { stdio: "pipe" });
      mnt = dir;
    } catch (err) {
      whyNot = `cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${String((err as { stderr?: unknown }).stderr ?? err).trim()}`;
      rmSync(dir, { recursive: true, force: true });
    }
  });
  afterAll(() => {
    if (!mnt) return;
    try {
      execFileSync("umount", [mnt], { stdio: "pipe" });
    } catch {
      execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
    }
    rmSync(mnt, { recursive: true, force: true });
  });

  /** Leave about `bytes` free on the tmpfs (0: fill it to the last page). */
  function leaveFree(bytes: number): void {
    const { bavail, bsize } = statfsSync(mnt as string);
    writeFileSync(filler(), Buffer.alloc(Math.max(0, bavail * bsize - bytes), 0x5a));
    if (bytes === 0) {
      try {
        for (;;) appendFileSync(filler(), Buffer.alloc(4096, 0x5a));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  }

  /** Random doubles: no compressor shrinks them, so sizes on disk are predictable. */
  function noise(rowCount: number, cols: number, seed: number): { data: Float64Array; shape: number[] } {
    const rand = mulberry32(seed);
    return { data: Float64Array.from({ length: rowCount * cols }, () => rand()), shape: [rowCount, cols] };
  }

  const COLS = 128;
  const CHUNKS = [16, COLS]; // 16 KiB per chunk
  const cases: {
    name: string;
    approach: "append" | "update" | "overwrite";
    free: number;
    setup: () => { data: Float64Array; shape: number[] };
    options?: SaveOptions;
  }[] = [
    // A disk that is full before the save starts.
    { name: "append, no space at all", approach: "append", free: 0, setup: () => noise(64, COLS, 1) },
    // Room for about 3 of the 10 new chunks: the save fails part-way through.
    { name: "append, fails part-way", approach: "append", free: 48 * 1024, setup: () => noise(64, COLS, 2) },
    { name: "overwrite, fails part-way", approach: "overwrite", free: 48 * 1024, setup: () => noise(64, COLS, 3) },
    // Chunks that compress to nothing grow to 16 KiB each when updated with noise.
    {
      name: "update, fails part-way",
      approach: "update",
      free: 48 * 1024,
      setup: () => ({ data: new Float64Array(160 * COLS).fill(1), shape: [160, COLS] }),
      options: { indices: slice(0, 160) },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: StoreError with cause.code ENOSPC, the dataset byte-for-byte as before, and a later save works`, async (ctx) => {
      if (!mnt) return ctx.skip(whyNot);
      const root = join(mnt, c.name.replace(/\W+/g, "-"));
      try {
        const base = c.setup();
        await new ZarrSaver(root, { datasetName: "ds" }).save(base, {
          chunks: CHUNKS,
          compressor: c.approach === "update" ? new Zstd() : null,
        });
        const before = digestTree(root);
        const batch = noise(160, COLS, 99); // 10 chunks, 160 KiB
        const saver = new ZarrSaver(root, { datasetName: "ds", approach: c.approach });
        const options: SaveOptions = {
          ...(c.options ?? {}),
          ...(c.approach === "overwrite" ? { chunks: CHUNKS, compressor: null } : {}),
        };

        leaveFree(c.free);
        const err = await rejection(saver.save(batch, options));
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toBeInstanceOf(ZarrSaverError);
        expect((err as StoreError).code).toBe("ERR_ZARR_STORE");
        expect(((err as StoreError).cause as { code?: string } | undefined)?.code).toBe("ENOSPC");
        // Values first (the user-visible contract), then every byte ("ignore nothing").
        const read = await readOrNull(root, "ds");
        expect(read?.shape, "shape after the failed save").toEqual(base.shape);
        expect(changedRows(read?.values ?? [], base.data, COLS), "rows the failed save changed").toEqual([]);
        expect(digestTree(root)).toEqual(before);

        rmSync(filler());
        await saver.save(batch, options);
        const after = await readOrNull(root, "ds");
        const want = c.approach === "append" ? [...base.data, ...batch.data] : Array.from(batch.data);
        expect(
          after?.values.every((v, i) => v === want[i]) && after.values.length === want.length,
          "values after the retry",
        ).toBe(true);
      } finally {
        rmSync(filler(), { force: true });
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});

// ---------------------------------------------------------------- 5. escapes

describe("a save never escapes filePath", () => {
  const BAD_NAMES = [
    "..",
    "../outside",
    "a/../../outside",
    "a/..",
    ".",
    "./a",
    "a/./b",
    "/abs-zarr-saver",
    "/tmp/abs-zarr-saver",
    "a\0b",
    "\0",
    "a\\b",
    "..\\outside",
    "a\\..\\..\\outside",
    "a//b",
    "a/",
    "/",
    "",
  ];

  /** A container inside a parent directory that also holds `outside/`, and the trees of both. */
  function layout(): {
    parent: string;
    container: string;
    outside: string;
    state: () => { tree: string[]; bytes: Record<string, string> };
  } {
    const parent = tempDir("zarr-saver-escape-");
    const container = join(parent, "container");
    const outside = join(parent, "outside");
    mkdirSync(container);
    mkdirSync(outside);
    writeFileSync(join(outside, "keep.txt"), "precious");
    return { parent, container, outside, state: () => ({ tree: listTree(parent), bytes: digestTree(parent) }) };
  }

  it.each(["append", "overwrite", "update"] as const)(
    "%s: names with '..', absolute paths, NUL, backslashes or empty segments are InvalidArgumentError",
    async (approach) => {
      const { container, state } = layout();
      await new ZarrSaver(container, { datasetName: "ok" }).save([1, 2, 3]);
      const start = state();
      for (const datasetName of BAD_NAMES) {
        const err = await rejection(
          (async () =>
            new ZarrSaver(container, { datasetName, approach }).save([[1, 2, 3]], approach === "update" ? { indices: 0 } : {}))(),
        );
        expect(err, `datasetName ${JSON.stringify(datasetName)}`).toBeInstanceOf(InvalidArgumentError);
      }
      expect(state()).toEqual(start);
      expect(existsSync("/abs-zarr-saver")).toBe(false);
      expect(existsSync("/tmp/abs-zarr-saver")).toBe(false);
    },
  );

  it("the native core refuses the same names when the facade is bypassed", async () => {
    const binding = createRequire(import.meta.url)("../index.cjs") as typeof Binding;
    const { container, state } = layout();
    const start = state();
    for (const dataset of BAD_NAMES) {
      for (const approach of ["append", "overwrite", "update"] as const) {
        const request: Binding.NativeSaveOptions = {
          dataset,
          approach,
          array: { dtype: "float64", compressor: { kind: "none" }, consolidated: false },
          ...(approach === "update" ? { selection: [{ kind: "index", index: 0 }] } : {}),
        };
        const destination = { location: container, durable: false };
        const err = await rejection(
          (async () =>
            binding.save(new binding.PreparedSave(destination, request), [2], new Uint8Array(new Float64Array([1, 2]).buffer)))(),
        );
        expect(String((err as Error).message), `dataset ${JSON.stringify(dataset)} (${approach})`).toMatch(
          /^ERR_ZARR_INVALID_ARGUMENT/,
        );
      }
    }
    expect(state()).toEqual(start);
  });

  it.each(["append", "overwrite", "update"] as const)(
    "%s: a symlink inside the container pointing outside is InvalidArgumentError, nothing written outside",
    async (approach) => {
      const { container, outside, state } = layout();
      await new ZarrSaver(container, { datasetName: "grp/real" }).save([[1, 2, 3]]);
      symlinkSync(outside, join(container, "link"));
      symlinkSync(outside, join(container, "grp", "link2"));
      // An array outside the container that an update or append through the link would change.
      await new ZarrSaver(outside, { datasetName: "x" }).save([[1, 2, 3]]);
      const start = state();
      for (const datasetName of ["link", "link/x", "link/x/y", "grp/link2", "grp/link2/x"]) {
        const err = await rejection(
          new ZarrSaver(container, { datasetName, approach }).save([[4, 5, 6]], approach === "update" ? { indices: 0 } : {}),
        );
        expect(err, `datasetName ${datasetName}`).toBeInstanceOf(InvalidArgumentError);
        expect((err as Error).message).toContain("symbolic link");
      }
      expect(state()).toEqual(start);
      expect(await readOrNull(outside, "x")).toMatchObject({ shape: [1, 3], values: [1, 2, 3] });
    },
  );

  it.each(["append", "overwrite", "update"] as const)(
    "%s: a file or a FIFO where the dataset's directory should be is an error, never opened",
    async (approach) => {
      const { parent, container } = layout();
      writeFileSync(join(container, "file"), "not a dataset");
      execFileSync("mkfifo", [join(container, "fifo")]);
      // Entries only: digesting the tree would read the FIFO.
      const start = listTree(parent);
      for (const datasetName of ["file", "fifo"]) {
        // Opening a FIFO for reading would block until a writer comes: the save would hang.
        const err = await rejection(
          new ZarrSaver(container, { datasetName, approach }).save([[1, 2]], approach === "update" ? { indices: 0 } : {}),
        );
        expect(err, `datasetName ${datasetName}`).toBeInstanceOf(approach === "update" ? DatasetNotFoundError : StoreError);
      }
      expect(listTree(parent)).toEqual(start);
      expect(readFileSync(join(container, "file"), "utf8")).toBe("not a dataset");
    },
  );

  it.each(["append", "update"] as const)(
    "%s: a chunk directory swapped for a symlink to outside is StoreError, nothing written through it",
    async (approach) => {
      const { container, outside, state } = layout();
      const saver = new ZarrSaver(container, { datasetName: "grp/real" });
      await saver.save({ data: new Float64Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] }, { chunks: [2, 2] });
      // The chunk directory now lives outside, reached through a link inside the dataset.
      const chunks = join(container, "grp", "real", "c");
      cpSync(chunks, join(outside, "c"), { recursive: true });
      rmSync(chunks, { recursive: true });
      symlinkSync(join(outside, "c"), chunks);
      const start = state();
      const err = await rejection(
        new ZarrSaver(container, { datasetName: "grp/real", approach }).save(
          { data: new Float64Array([7, 8]), shape: [1, 2] },
          approach === "update" ? { indices: 0 } : {},
        ),
      );
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toContain("symbolic link");
      expect(state()).toEqual(start);
    },
  );
});

// ---------------------------------------------------------------- 6. abort

describe("AbortSignal", () => {
  const COLS = 2048;
  const CHUNK_ROWS = 32;
  const LONG_ROWS = 4096; // 64 MiB of float64, 128 chunks of 512 KiB at zstd 9: about a second or more
  const slow = (): SaveOptions => ({ chunks: [CHUNK_ROWS, COLS], compressor: new Zstd({ level: 9 }) });

  function noise(rowCount: number, seed: number): { data: Float64Array; shape: number[] } {
    const data = new Float64Array(rowCount * COLS);
    let x = Math.imul(seed + 1, 0x9e3779b1) | 1;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = (x >>> 0) / 4294967296;
    }
    return { data, shape: [rowCount, COLS] };
  }

  /** Start `save` with a signal, abort it once the first chunks are written; the rejection and the last progress. */
  async function abortMidway(
    saver: ZarrSaver,
    data: { data: Float64Array; shape: number[] },
    options: SaveOptions,
    reason?: unknown,
  ) {
    const controller = new AbortController();
    const seen: SaveProgress[] = [];
    const started = performance.now();
    let abortedAt = 0;
    const err = await rejection(
      saver.save(data, {
        ...options,
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.chunksDone > 0 && !controller.signal.aborted) {
            abortedAt = performance.now();
            controller.abort(reason);
          }
        },
      }),
    );
    return { err, seen, settleMs: performance.now() - abortedAt, totalMs: performance.now() - started };
  }

  it("append: aborting a long save rejects with the reason and leaves the old array, byte for byte", async () => {
    const root = tempDir("zarr-saver-abort-append-");
    const saver = new ZarrSaver(root, { datasetName: "ds" });
    const old = noise(2 * CHUNK_ROWS, 7); // whole chunks: an aborted append only adds files
    await saver.save(old, slow());
    const before = digestTree(root);
    const reason = new Error("stop: the user cancelled");
    const { err, seen, settleMs } = await abortMidway(saver, noise(LONG_ROWS, 8), slow(), reason);
    expect(err).toBe(reason);
    const last = seen.at(-1) as SaveProgress;
    expect(last.chunksDone).toBeLessThan(last.chunksTotal); // it stopped early
    expect(settleMs).toBeLessThan(1000);

    const read = await readOrNull(root, "ds");
    expect(read?.shape).toEqual(old.shape);
    expect(read?.values.every((v, i) => v === old.data[i])).toBe(true);
    expect(digestTree(root)["ds/zarr.json"]).toBe(before["ds/zarr.json"]);
    // Every file: chunks the aborted save wrote past the old shape must not stay behind.
    expect(digestTree(root)).toEqual(before);

    // The dataset takes the next append normally.
    await saver.save(noise(3, 9), slow());
    expect((await readOrNull(root, "ds"))?.shape).toEqual([2 * CHUNK_ROWS + 3, COLS]);
  }, 60_000);

  it("overwrite: aborting rejects with an AbortError and leaves the old array and no staging directory", async () => {
    const root = tempDir("zarr-saver-abort-overwrite-");
    const old = noise(40, 10);
    await new ZarrSaver(root, { datasetName: "ds" }).save(old, slow());
    const before = digestTree(root);
    const beforeList = listTree(root);
    const { err } = await abortMidway(
      new ZarrSaver(root, { datasetName: "ds", approach: "overwrite" }),
      noise(LONG_ROWS, 11),
      slow(),
    );
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe("AbortError");
    expect(digestTree(root)).toEqual(before);
    expect(listTree(root)).toEqual(beforeList);
  }, 60_000);

  it("update: aborting part-way leaves every old value", async () => {
    const root = tempDir("zarr-saver-abort-update-");
    const old = noise(LONG_ROWS / 2, 12);
    await new ZarrSaver(root, { datasetName: "ds" }).save(old, slow());
    const before = digestTree(root);
    const reason = "stop";
    const { err, seen } = await abortMidway(
      new ZarrSaver(root, { datasetName: "ds", approach: "update" }),
      noise(LONG_ROWS / 2, 13),
      { indices: slice(0, LONG_ROWS / 2) },
      reason,
    );
    expect(err).toBe(reason);
    expect((seen.at(-1) as SaveProgress).chunksDone).toBeGreaterThan(0);
    const read = await readOrNull(root, "ds");
    const changed = changedRows(read?.values ?? [], old.data, COLS);
    expect(changed.length, `rows the aborted update changed (of ${LONG_ROWS / 2}), first: ${changed.slice(0, 5)}`).toBe(0);
    expect(digestTree(root)).toEqual(before);
  }, 60_000);

  it("an already-aborted signal rejects with its reason without touching anything", async () => {
    const root = tempDir("zarr-saver-abort-early-");
    const saver = new ZarrSaver(join(root, "c.zarr"), { datasetName: "ds" });
    const reason = new Error("never started");
    // Nothing exists yet: nothing may be created, not even the container.
    expect(await rejection(saver.save([1, 2, 3], { signal: AbortSignal.abort(reason) }))).toBe(reason);
    expect(listTree(root)).toEqual([]);

    await saver.save([1, 2, 3]);
    const before = digestTree(root);
    const beforeList = listTree(root);
    expect(await rejection(saver.save([4, 5], { signal: AbortSignal.abort(reason) }))).toBe(reason);
    const dflt = await rejection(saver.save([4, 5], { signal: AbortSignal.abort() }));
    expect((dflt as DOMException).name).toBe("AbortError");
    const update = new ZarrSaver(join(root, "c.zarr"), { datasetName: "ds", approach: "update" });
    expect(await rejection(update.save([9], { indices: 0, signal: AbortSignal.abort(reason) }))).toBe(reason);
    expect(digestTree(root)).toEqual(before);
    expect(listTree(root)).toEqual(beforeList);
  });

  it("saveSync with a signal throws InvalidArgumentError and writes nothing", () => {
    const root = tempDir("zarr-saver-abort-sync-");
    const saver = new ZarrSaver(join(root, "c.zarr"));
    for (const signal of [new AbortController().signal, AbortSignal.abort()]) {
      const err = thrown(() => saver.saveSync([1, 2, 3], { signal }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toContain("signal");
    }
    expect(listTree(root)).toEqual([]);
  });
});

// ---------------------------------------------------------------- 7. progress

describe("onProgress", () => {
  function checkMonotone(calls: SaveProgress[]): void {
    for (const [i, p] of calls.entries()) {
      expect(p.chunksDone).toBeLessThanOrEqual(p.chunksTotal);
      if (i === 0) continue;
      const prev = calls[i - 1] as SaveProgress;
      expect(p.chunksDone).toBeGreaterThanOrEqual(prev.chunksDone);
      expect(p.chunksTotal).toBeGreaterThanOrEqual(prev.chunksTotal);
      expect(p.bytesWritten).toBeGreaterThanOrEqual(prev.bytesWritten);
    }
  }
  const sizeOf = (root: string, files: string[]): number => files.reduce((n, f) => n + statSync(join(root, f)).size, 0);
  const chunkFiles = (root: string, dataset: string): string[] =>
    Object.keys(digestTree(join(root, dataset))).filter((f) => !/(^|\/)(zarr\.json|\.zarray|\.zattrs|\.zgroup)$/.test(f));

  it("create: monotone, ends with chunksDone === chunksTotal === chunks written and bytesWritten === bytes on disk", async () => {
    const root = tempDir("zarr-saver-progress-");
    const rowsN = 2048;
    const cols = 2048;
    const data = new Float64Array(rowsN * cols);
    let x = 99;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = (x >>> 0) / 4294967296;
    }
    const calls: SaveProgress[] = [];
    await new ZarrSaver(root, { datasetName: "g/ds" }).save(
      { data, shape: [rowsN, cols] },
      { chunks: [32, cols], compressor: new Zstd({ level: 9 }), onProgress: (p) => calls.push(p) },
    );
    checkMonotone(calls);
    const last = calls.at(-1) as SaveProgress;
    expect(calls.length, "a ~0.5 s save is polled more than once").toBeGreaterThan(2);
    expect(
      calls.some((p) => p.chunksDone > 0 && p.chunksDone < p.chunksTotal),
      "an intermediate report",
    ).toBe(true);
    expect(last.chunksTotal).toBe(rowsN / 32);
    expect(last.chunksDone).toBe(last.chunksTotal);
    expect(chunkFiles(root, "g/ds")).toHaveLength(last.chunksTotal);
    // A fresh container: every file in it was written by this save (chunks, array and group metadata).
    expect(last.bytesWritten).toBe(sizeOf(root, Object.keys(digestTree(root))));
  }, 60_000);

  it("append and update: totals count the chunks touched, bytesWritten the files written", async () => {
    const root = tempDir("zarr-saver-progress-append-");
    const saver = new ZarrSaver(root, { datasetName: "ds" });
    const batch = (n: number, base: number): number[][] =>
      Array.from({ length: n }, (_, r) => Array.from({ length: 4 }, (_, c) => base + r * 4 + c + 0.5));
    await saver.save(batch(10, 0), { chunks: [4, 4], compressor: new Zstd() });
    const before = digestTree(root);
    const calls: SaveProgress[] = [];
    // Rows 10..22: chunk 2 (rows 8-11) is rewritten, chunks 3, 4 and 5 are new.
    await saver.save(batch(13, 1000), { onProgress: (p) => calls.push(p) });
    checkMonotone(calls);
    const after = digestTree(root);
    const written = Object.keys(after).filter((f) => after[f] !== before[f]);
    let last = calls.at(-1) as SaveProgress;
    expect(last).toMatchObject({ chunksDone: 4, chunksTotal: 4 });
    expect(written.sort()).toEqual(["ds/c/2/0", "ds/c/3/0", "ds/c/4/0", "ds/c/5/0", "ds/zarr.json"]);
    expect(last.bytesWritten).toBe(sizeOf(root, written));

    // update rows 1, 5 and 22 (chunks 0, 1 and 5); saveSync reports once, at the end.
    const syncCalls: SaveProgress[] = [];
    const beforeUpdate = digestTree(root);
    new ZarrSaver(root, { datasetName: "ds", approach: "update" }).saveSync(batch(3, 5000), {
      indices: [1, 5, -1],
      onProgress: (p) => syncCalls.push(p),
    });
    expect(syncCalls).toHaveLength(1);
    last = syncCalls[0] as SaveProgress;
    const changed = Object.entries(digestTree(root))
      .filter(([f, b]) => beforeUpdate[f] !== b)
      .map(([f]) => f);
    expect(changed.sort()).toEqual(["ds/c/0/0", "ds/c/1/0", "ds/c/5/0"]);
    expect(last).toEqual({ chunksDone: 3, chunksTotal: 3, bytesWritten: sizeOf(root, changed) });
  });
});
