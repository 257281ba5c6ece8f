/**
 * The contenders: how to start each one as its own process, and whether it can run
 * here. Each process receives a list of jobs (bench/lib/workloads.mjs) as one JSON
 * argument and prints one JSON report as its last stdout line.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BENCH = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(BENCH);

/**
 * Display names, in table order. `ours` marks zarr-saver's two forms. A `variantOf`
 * entry is zarr-saver with an option that changes what a save promises: it is priced
 * against that contender in the same run, on its `workloads` only, and stays out of
 * the tables, ratios and targets (see `durableCost` in lib/stats.mjs).
 */
export const CONTENDERS = [
  { name: "zarr-saver-async", label: "zarr-saver save", ours: true },
  { name: "zarr-saver-sync", label: "zarr-saver saveSync", ours: true },
  { name: "rust-direct", label: "Rust core direct", baseline: "ceiling" },
  { name: "zarr-python", label: "zarr-python 3", baseline: "zarr-python" },
  { name: "zarrita", label: "zarrita.js saver", baseline: "zarrita" },
  {
    name: "tensorstore",
    label: "tensorstore",
    baseline: "tensorstore",
    // Given typed data, not JS values: the W4 conversions are not its to run.
    workloads: ["W1 blosc lz4", "W1 zstd 3", "W1 uncompressed", "W2 appends", "W3 updates"],
  },
  // Last, so that the first repetition runs the others in their usual order.
  {
    name: "zarr-saver-durable",
    label: "zarr-saver save, durable",
    variantOf: "zarr-saver-async",
    workloads: ["W1 blosc lz4", "W2 appends"],
  },
];

/** The contenders of the tables: every one but the variants. */
export const TABLED = CONTENDERS.filter((c) => !c.variantOf);

/** Whether contender `c` runs workload `w` at all. */
export const runsOn = (c, w) => !c.workloads || c.workloads.includes(w.id);

function nodeCommand(name) {
  return (jobs) => [process.execPath, [join(BENCH, "contenders", "node.mjs"), name, JSON.stringify(jobs)]];
}

/**
 * Build the Rust bench binary (incremental; cargo decides) and return its path. It is
 * built as the addon is (`npm run build:native`: the `local` profile, the host target
 * named explicitly), so the two are compared at one optimisation level and share
 * their compiled dependencies.
 */
function buildRust(log) {
  const cargo = spawnSync("cargo", ["--version"], { encoding: "utf8" });
  if (cargo.status !== 0) return { reason: "cargo is not installed" };
  const host = /^host: (.+)$/m.exec(spawnSync("rustc", ["-vV"], { encoding: "utf8" }).stdout ?? "")?.[1];
  if (host === undefined) return { reason: "rustc printed no host triple" };
  log("building the direct-Rust bench binary (cargo build --profile local --example bench_direct)");
  const args = [
    "build",
    "--profile",
    "local",
    "--target",
    host,
    "-p",
    "zarr-saver-core",
    "--example",
    "bench_direct",
    "--message-format=json-render-diagnostics",
  ];
  const r = spawnSync("cargo", args, { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`cargo ${args.join(" ")} failed (exit ${r.status})`);
  let exe;
  for (const line of r.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const msg = JSON.parse(line);
    if (msg.reason === "compiler-artifact" && msg.target?.name === "bench_direct" && msg.executable) exe = msg.executable;
  }
  if (!exe || !existsSync(exe)) throw new Error("cargo built bench_direct but reported no executable");
  return { exe };
}

/** The project's venv python (scripts/python-venv.sh creates it on first use). */
export function venvPython(log) {
  log("checking the Python venv (scripts/python-venv.sh)");
  const r = spawnSync("bash", [join(ROOT, "scripts", "python-venv.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const python = r.stdout?.trim();
  if (r.status !== 0 || !python) return { reason: "scripts/python-venv.sh failed (python3 with venv and pip access needed)" };
  return { python };
}

/**
 * Resolve every contender: `{ ...entry, command(jobs) -> [file, args] }` or
 * `{ ...entry, skipped: reason }`. A contender that cannot be set up here is skipped
 * and reported as such; one that fails while running is a crash.
 */
export async function resolveContenders(only, log) {
  const out = [];
  for (const c of CONTENDERS) {
    if (only && !only.includes(c.name)) continue;
    if (c.name === "rust-direct") {
      const { exe, reason } = buildRust(log);
      out.push(reason ? { ...c, skipped: reason } : { ...c, command: (jobs) => [exe, [JSON.stringify(jobs)]] });
    } else if (c.name === "zarr-python" || c.name === "tensorstore") {
      const { python, reason } = venvPython(log);
      const script = join(BENCH, "baselines", c.name === "zarr-python" ? "zarr_python_bench.py" : "tensorstore_bench.py");
      out.push(reason ? { ...c, skipped: reason } : { ...c, command: (jobs) => [python, [script, JSON.stringify(jobs)]] });
    } else {
      out.push({ ...c, command: nodeCommand(c.name) });
    }
  }
  return out;
}

/**
 * Run one contender process on `jobs`. Resolves with its parsed report, or rejects
 * with its exit status and the tail of its stderr.
 */
export function runContender(contender, jobs, timeoutMs) {
  const [file, args] = contender.command(jobs);
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, maxBuffer: 1 << 26, timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (err) {
        const why = err.killed ? `killed after ${timeoutMs / 1000} s` : `exit ${err.code ?? err.signal}`;
        reject(new Error(`${contender.name} ${why}: ${stderr.trim().split("\n").slice(-8).join("\n")}`));
        return;
      }
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${contender.name} printed no JSON report; stdout ends with: ${last.slice(0, 300)}`));
      }
    });
  });
}
