// What the Windows cross-build and its tests share: the target, the tools they need
// (with the Debian packages that provide them), the cargo environment, and the
// folders they work in (all under target/, which git ignores).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const TARGET = "x86_64-pc-windows-gnu";
/** Everything the Windows build and tests make or fetch. */
export const WORK = join(ROOT, "target", "windows");
/** The folder the tests run from under wine: loader, facade and the addon, named as
 * the loader looks for it under the official (msvc-built) node.exe. */
export const TEST_PKG = join(WORK, "pkg");
export const ADDON_NAME = "zarr-saver.win32-x64-msvc.node";
export const NODE_EXE = join(WORK, "node", "package", "bin", "node.exe");
export const WINEPREFIX = join(WORK, "wineprefix");
export const PRNG_DLL = join(WORK, "bcryptprimitives.dll");
/** Cargo's target directory for the Windows build: its own, so that it can build while
 * host builds and tests run (cargo locks a target directory while it builds there). */
export const CARGO_DIR = join(WORK, "cargo");

/** Optimised for build time: CI cross-builds it cold every run (see Cargo.toml). */
export const PROFILE = "windows-test";

/**
 * The test build leaves Icechunk out (`--no-default-features`): the portable suite
 * never opens a repository, and Icechunk brings 70 more crates (390 instead of 320
 * for the Windows target) to a cold cross-build that CI makes every run (7 CPU
 * minutes without them). Released Windows binaries are built with it, on a Windows
 * runner.
 */
export const FEATURES = ["--no-default-features"];

/** `cargo` arguments of the core's Rust tests for the Windows target. */
export const RUST_TESTS = ["test", "-p", "zarr-saver-core", "--profile", PROFILE, "--target", TARGET, ...FEATURES];

const TOOLS = [
  ["x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"],
  ["x86_64-w64-mingw32-g++", "g++-mingw-w64-x86-64"],
];
// Debian's `wine` runs 64-bit programs through the `wine64` package's loader.
const WINE_TOOLS = [
  ["wine", "wine wine64"],
  ["/usr/lib/wine/wine64", "wine64"],
];

function has(command) {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** Fail with the packages to install when a tool is missing (this script installs nothing). */
export function requireTools({ wine = false } = {}) {
  const wanted = wine ? [...TOOLS, ...WINE_TOOLS] : TOOLS;
  const missing = wanted.filter(([command]) => !has(command));
  if (missing.length > 0) {
    fail(
      `missing ${missing.map(([c]) => c).join(", ")}: install the Debian packages ` +
        `${[...new Set(missing.map(([, p]) => p))].join(" ")} ` +
        "(apt-get install), or run scripts/windows/setup.sh",
    );
  }
  const targets = execFileSync("rustup", ["target", "list", "--installed"], { encoding: "utf8" });
  if (!targets.split("\n").includes(TARGET)) {
    fail(`the Rust target ${TARGET} is missing: rustup target add ${TARGET}, or run scripts/windows/setup.sh`);
  }
}

export function fail(message) {
  console.error(`windows: ${message}`);
  process.exit(1);
}

/**
 * c-blosc compiles its own win32 pthread emulation, whose symbols clash with the
 * libwinpthread that Rust's windows-gnu std links: blosc's are renamed. The cc crate
 * reads `CFLAGS_<target>`.
 */
const BLOSC_PTHREAD = [
  "pthread_create",
  "pthread_cond_init",
  "pthread_cond_destroy",
  "pthread_cond_wait",
  "pthread_cond_signal",
  "pthread_cond_broadcast",
  "win32_pthread_join",
  "pthread_self",
];

/** napi-build wants a libnode.dll to link against; with napi's `dyn-symbols` the
 * addon resolves every symbol from the host node.exe at load time, so an empty DLL
 * serves. */
function libnodeDir() {
  const dir = join(WORK, "libnode");
  const dll = join(dir, "libnode.dll");
  if (!existsSync(dll)) {
    mkdirSync(dir, { recursive: true });
    const source = join(dir, "libnode.c");
    writeFileSync(source, "/* An empty stand-in: napi's dyn-symbols finds node's symbols at run time. */\n");
    execFileSync("x86_64-w64-mingw32-gcc", ["-shared", "-o", dll, source], { stdio: "inherit" });
  }
  return dir;
}

export function cargoEnv() {
  const triple = TARGET.replaceAll("-", "_");
  return {
    ...process.env,
    [`CARGO_TARGET_${triple.toUpperCase()}_LINKER`]: "x86_64-w64-mingw32-gcc",
    [`CC_${triple}`]: "x86_64-w64-mingw32-gcc",
    [`CXX_${triple}`]: "x86_64-w64-mingw32-g++",
    [`AR_${triple}`]: "x86_64-w64-mingw32-ar",
    [`CFLAGS_${triple}`]: BLOSC_PTHREAD.map((s) => `-D${s}=blosc_${s}`).join(" "),
    // snappy is C++: a static libstdc++ leaves a DLL that imports only system DLLs.
    [`CXXSTDLIB_STATIC_${triple}`]: "1",
    [`CARGO_TARGET_${triple.toUpperCase()}_RUSTFLAGS`]: "-C link-args=-static-libgcc -C link-args=-static-libstdc++",
    LIBNODE_PATH: libnodeDir(),
    CARGO_TARGET_DIR: CARGO_DIR,
  };
}

/** `cargo <args>` for the Windows target, output to the console; exits on failure. */
export function cargo(args) {
  const run = spawnSync("cargo", args, { cwd: ROOT, env: cargoEnv(), stdio: "inherit" });
  if (run.status !== 0) fail(`cargo ${args.join(" ")} failed`);
}
