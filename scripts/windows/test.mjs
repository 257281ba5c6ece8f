// `npm run test:windows`: the Windows build's tests, under wine. First the core's
// Rust tests, built for the Windows target and run as Windows programs; then the
// portable suite (__test__/windows/) under the official Windows node.exe, loading
// the addon `npm run build:windows` laid out in target/windows/pkg. wine cannot
// write a program's stdout to a pipe (EBADF): every run writes to a file in
// target/windows/logs, printed afterwards. Needs scripts/windows/setup.sh once.
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ADDON_NAME, cargoEnv, fail, NODE_EXE, ROOT, RUST_TESTS, requireTools, TEST_PKG, WINEPREFIX, WORK } from "./env.mjs";

requireTools({ wine: true });
if (!existsSync(NODE_EXE) || !existsSync(join(WINEPREFIX, "system.reg"))) {
  fail("no Windows node.exe or wine prefix: run scripts/windows/setup.sh");
}
if (!existsSync(join(TEST_PKG, ADDON_NAME))) fail("no Windows addon: run npm run build:windows");

const LOGS = join(WORK, "logs");
mkdirSync(LOGS, { recursive: true });
const wineEnv = {
  ...process.env,
  WINEPREFIX,
  WINEDEBUG: "-all",
  WINEDLLOVERRIDES: "mscoree,mshtml=;bcryptprimitives=n",
};

/** Run `args` under wine with stdout and stderr to `log`; print the log; the exit status. */
function wine(name, args, { cwd = ROOT, timeout = 30 * 60_000 } = {}) {
  const log = join(LOGS, `${name}.log`);
  const fd = openSync(log, "w");
  const started = Date.now();
  const run = spawnSync("wine", args, { cwd, env: wineEnv, stdio: ["ignore", fd, fd], timeout });
  closeSync(fd);
  const output = readFileSync(log, "utf8");
  console.log(output.length > 20_000 ? `...\n${output.slice(-20_000)}` : output);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`windows: ${name}: exit ${run.status ?? run.signal ?? run.error} in ${seconds} s (${log})`);
  return run.status === 0;
}

const results = [];

// 1. The core's Rust tests, as Windows programs.
const started = Date.now();
const built = execFileSync("cargo", [...RUST_TESTS, "--no-run", "--message-format=json"], {
  cwd: ROOT,
  env: cargoEnv(),
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
  maxBuffer: 256 << 20,
});
console.log(`windows: Rust tests built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
const exes = built
  .split("\n")
  .filter((line) => line.startsWith("{"))
  .map((line) => JSON.parse(line))
  .filter((m) => m.reason === "compiler-artifact" && m.executable && m.profile?.test)
  .map((m) => m.executable);
for (const exe of exes) {
  const name = `rust-${exe
    .split("/")
    .pop()
    .replace(/\.exe$/, "")}`;
  results.push([name, wine(name, [exe, "--test-threads=2"])]);
}

// 2. The portable suite under the Windows node.exe, from inside the laid-out package
// (so that `import "zarr-saver"` finds it).
const tests = join(TEST_PKG, "test");
cpSync(join(ROOT, "__test__", "windows"), tests, { recursive: true });
for (const file of readdirSync(tests).filter((f) => f.endsWith(".test.mjs"))) {
  const name = `node-${file.replace(/\.test\.mjs$/, "")}`;
  results.push([name, wine(name, [NODE_EXE, "--test-reporter=spec", join(tests, file)], { cwd: TEST_PKG })]);
}

const failed = results.filter(([, ok]) => !ok).map(([name]) => name);
console.log(`windows: ${results.length - failed.length}/${results.length} test runs passed`);
if (failed.length > 0) fail(`failed: ${failed.join(", ")}`);
