/** The machine and the versions a result belongs to. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statfsSync, statSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT } from "./contenders.mjs";

function tryRun(file, args) {
  try {
    return execFileSync(file, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/** `version` of package `name` as installed for the project (walks up from its entry point). */
function npmVersion(name) {
  try {
    // ESM-only packages (zarrita) have no require() entry: resolve as an import.
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
        if (pkg.name === name) return pkg.version;
      } catch {}
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  } catch {
    return undefined;
  }
}

function lockedCrate(name) {
  const lock = readFileSync(join(ROOT, "Cargo.lock"), "utf8");
  return lock.match(new RegExp(`name = "${name}"\\nversion = "([^"]+)"`))?.[1];
}

const TMPFS = "/dev/shm";
const TMPFS_MAGIC = 0x01021994;

/**
 * Where the scratch directory goes unless `--dir` says: the tmpfs at /dev/shm when there
 * is one with `bytes` free (contenders are then compared without the disk's costs,
 * which on a shared virtual disk drift from run to run), else the system's temp dir.
 */
export function defaultScratchParent(bytes) {
  try {
    const fs = statfsSync(TMPFS);
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= bytes) return TMPFS;
  } catch {}
  return os.tmpdir();
}

/** The file system holding `dir`, in words. */
export function fsDescription(dir) {
  const type = tryRun("findmnt", ["-n", "-o", "FSTYPE", "-T", dir]);
  let tmpfs = false;
  try {
    tmpfs = statfsSync(dir).type === TMPFS_MAGIC;
  } catch {}
  if (tmpfs) return "tmpfs (memory: no disk costs; --dir DIR measures a disk)";
  return `${type ?? "a file system"} (a disk: its costs are in the figures)`;
}

export function machine() {
  const cpu = os.cpus()[0]?.model?.trim();
  return {
    nproc: os.availableParallelism(),
    cpu,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function versions() {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const commit = tryRun("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = tryRun("git", ["status", "--porcelain", "--", "src", "native"]);
  return {
    node: process.version,
    "zarr-saver": `${pkg.version}${commit ? ` (${commit}${dirty ? ", uncommitted changes" : ""})` : ""}`,
    zarrs: lockedCrate("zarrs"),
    rustc: tryRun("rustc", ["--version"])?.replace(/^rustc /, ""),
    zarrita: npmVersion("zarrita"),
  };
}

function newestMtime(dir) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

/**
 * Whether the built addon and dist/ are older than the sources they come from: then
 * the Node contenders would measure another core than the Rust binary (built fresh).
 */
export function staleBuild() {
  const problems = [];
  try {
    const addon = readdirSync(ROOT).filter((f) => f.endsWith(".node"));
    const addonTime = Math.max(0, ...addon.map((f) => statSync(join(ROOT, f)).mtimeMs));
    const native = Math.max(
      newestMtime(join(ROOT, "native", "core", "src")),
      newestMtime(join(ROOT, "native", "binding", "src")),
    );
    if (addonTime < native) problems.push("the native addon is older than native/*/src (run `npm run build:native`)");
    const dist = statSync(join(ROOT, "dist", "index.js")).mtimeMs;
    if (dist < newestMtime(join(ROOT, "src"))) problems.push("dist/ is older than src/ (run `npm run build:ts`)");
  } catch (err) {
    problems.push(`could not check the build: ${err.message}`);
  }
  return problems;
}
