/**
 * The only door to the generated napi binding (`index.cjs` at the package root).
 * That loader takes a local build beside it (`zarr-saver.<platform>.node`, what
 * `npm run build:native` writes in a checkout) and otherwise the platform's binary
 * package (`zarr-saver-<platform>`, an optional dependency of the published package).
 * When neither loads, `HAS_NATIVE` is false and every save throws
 * {@link NativeUnavailableError} naming the platform, the package looked for, and
 * how to build from source; or, under Deno, the permission flags it needs.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Binding from "../index.js";
import { NativeUnavailableError } from "./errors.js";

export type NativeBinding = typeof Binding;
export type {
  Approach,
  AxisSelection,
  CompressorChoice,
  DataType,
  NativeArrayOptions,
  NativeDestination,
  NativeGroupArray,
  NativeGroupOptions,
  NativeIcechunk,
  NativeSaveOptions,
  NativeSaveResult,
  PreparedSave,
} from "../index.js";

/** Platforms a binary package is published for, as the loader names them. */
const PUBLISHED_PLATFORMS = [
  "linux-x64-gnu",
  "linux-x64-musl",
  "linux-arm64-gnu",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64-msvc",
];

// src/ and dist/ both sit one level below the package root.
const LOADER = "../index.cjs";

let binding: NativeBinding | undefined;
let loadError: unknown;
try {
  binding = createRequire(import.meta.url)(LOADER) as NativeBinding;
} catch (err) {
  loadError = err;
}

/** Whether the native core loaded; when false, every save throws {@link NativeUnavailableError}. */
export const HAS_NATIVE: boolean = binding !== undefined;

/** The binding if it loaded. */
export function loadedBinding(): NativeBinding | undefined {
  return binding;
}

/** The binding, or {@link NativeUnavailableError}. */
export function nativeBinding(): NativeBinding {
  if (binding) return binding;
  const denied = denoPermissionError(loadError);
  if (denied !== undefined) {
    // Reinstalling or building would not help: the binary is there, Deno refused to load it.
    // The flag Deno asked for is among DENO_FLAGS unless a narrowed one hid a file the loader reads.
    const asked = /--allow-\w+/.exec(denied)?.[0];
    const flags = asked === undefined || DENO_FLAGS.includes(asked) ? DENO_FLAGS : [...DENO_FLAGS, asked];
    throw new NativeUnavailableError(
      `the zarr-saver native core did not load: Deno denied a permission the loader needs (${denied}). ` +
        `Run Deno with ${flags.join(" ")}: the loader reads environment variables, the core is a ` +
        "native library opened through FFI, and saves read and write files.",
      { cause: loadError },
    );
  }
  const platform = platformName();
  const pkg = `zarr-saver-${platform}`;
  const published = PUBLISHED_PLATFORMS.includes(platform);
  const found = packageInstalled(pkg);
  const state = !published
    ? `no binary package is published for ${platform} (looked for ${pkg})`
    : found
      ? `${pkg} is installed but did not load`
      : `${pkg}, the binary package for ${platform}, is not installed (was the install run with optional dependencies omitted?)`;
  throw new NativeUnavailableError(
    `the zarr-saver native core did not load: ${state}; ${innermostMessage(loadError)}. ` +
      (published ? `Reinstall zarr-saver with optional dependencies, or build` : "Build") +
      " from source: in a clone of the repository run 'npm install' (it runs 'npm run build:native'," +
      " which needs a Rust toolchain and a C compiler).",
    { cause: loadError },
  );
}

/** The permissions Deno must grant for a save: docs/runtimes.md says why each. */
const DENO_FLAGS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];

/**
 * The message of Deno's permission error among the loader's chain of causes, if one
 * is there: a `NotCapable` (`PermissionDenied` before Deno 2), or the same message
 * rethrown as a plain Error (a refused `process.dlopen` reaches the loader so). Deno
 * stops at the first permission missing, so it names one flag; all of DENO_FLAGS are needed.
 */
function denoPermissionError(err: unknown): string | undefined {
  for (const cause of causes(err)) {
    if (!(cause instanceof Error)) continue;
    const message = cause.message.split("\n")[0] ?? "";
    if (cause.name === "NotCapable" || cause.name === "PermissionDenied" || DENO_REFUSAL.test(message)) return message;
  }
  return undefined;
}

/** How Deno words a refused permission: `Requires ffi access to "…", run again with the --allow-ffi flag`. */
const DENO_REFUSAL = /^Requires \w+ access to .*run again with the --allow-\w+ flag/;

/** `err`, then its causes, innermost last (at most 10: causes can form a cycle). */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = err; current !== undefined && current !== null && chain.length < 10; ) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/** The loader's name for this platform: os-arch, plus the C library on Linux and the ABI on Windows. */
function platformName(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === "win32") return `${base}-msvc`;
  if (process.platform !== "linux") return base;
  return `${base}-${isMusl() ? "musl" : "gnu"}`;
}

function isMusl(): boolean {
  // The loader's own test, first: musl's ldd is a script that names it.
  try {
    return readFileSync("/usr/bin/ldd", "utf8").includes("musl");
  } catch {
    // glibc reports its version in the diagnostic report's header; musl reports none.
    try {
      const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
      return report?.header?.glibcVersionRuntime === undefined;
    } catch {
      // Deno without --allow-read and --allow-sys refuses both tests: name the common case.
      return false;
    }
  }
}

function packageInstalled(name: string): boolean {
  try {
    // Resolved from the loader's directory, where the loader itself requires it.
    createRequire(new URL(LOADER, import.meta.url)).resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The loader throws a generic message whose chain of causes holds the reason each
 * candidate (local build, binary package) failed: those reasons are what the user needs.
 */
function innermostMessage(err: unknown): string {
  const messages = causes(err).map((cause) => (cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause)));
  // No WebAssembly build is published, so the loader's attempts at one only add noise.
  const useful = messages.filter((m) => !m.startsWith("Cannot find native binding") && !/wasi/i.test(m));
  return useful.join("; ") || (messages[0] ?? "unknown error");
}
