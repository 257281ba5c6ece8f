/**
 * The only door to the generated napi binding (`index.cjs` at the package root).
 * That loader takes a local build beside it (`zarr-saver.<platform>.node`, what
 * `npm run build:native` writes in a checkout) and otherwise the platform's binary
 * package (`zarr-saver-<platform>`, an optional dependency of the published package).
 * When neither loads, `HAS_NATIVE` is false and every save throws
 * {@link NativeUnavailableError} naming the platform, the package looked for, and
 * how to build from source.
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
} from "../index.js";

/** Platforms a binary package is published for, as the loader names them. */
const PUBLISHED_PLATFORMS = [
  "linux-x64-gnu",
  "linux-x64-musl",
  "linux-arm64-gnu",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
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
  const platform = platformName();
  const pkg = `zarr-saver-${platform}`;
  const published = PUBLISHED_PLATFORMS.includes(platform);
  const found = packageInstalled(pkg);
  const state = !published
    ? `no binary package is published for ${platform} (looked for ${pkg})` +
      (process.platform === "win32" ? "; the core needs a POSIX system (locks, renames) and is not ported to Windows yet" : "")
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
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    return report?.header?.glibcVersionRuntime === undefined;
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
  const messages: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth += 1) {
    messages.push(current instanceof Error ? (current.message.split("\n")[0] ?? "") : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  // No WebAssembly build is published, so the loader's attempts at one only add noise.
  const useful = messages.filter((m) => !m.startsWith("Cannot find native binding") && !/wasi/i.test(m));
  return useful.join("; ") || (messages[0] ?? "unknown error");
}
