/**
 * The only door to the generated napi binding (`index.cjs` at the package root).
 * When it fails to load, `HAS_NATIVE` is false and every save throws
 * {@link NativeUnavailableError} saying why and how to build it.
 */
import { createRequire } from "node:module";
import type * as Binding from "../index.js";
import { NativeUnavailableError } from "./errors.js";

export type NativeBinding = typeof Binding;
export type {
  Approach,
  AxisSelection,
  CompressorChoice,
  DataType,
  NativeSaveOptions,
  NativeSaveResult,
} from "../index.js";

let binding: NativeBinding | undefined;
let loadError: unknown;
try {
  // src/ and dist/ both sit one level below the package root.
  binding = createRequire(import.meta.url)("../index.cjs") as NativeBinding;
} catch (err) {
  loadError = err;
}

/** Whether the native core loaded. */
export const HAS_NATIVE: boolean = binding !== undefined;

/** The binding if it loaded. */
export function loadedBinding(): NativeBinding | undefined {
  return binding;
}

/** The binding, or {@link NativeUnavailableError}. */
export function nativeBinding(): NativeBinding {
  if (binding) return binding;
  const reason = loadError instanceof Error ? loadError.message.split("\n")[0] : String(loadError);
  throw new NativeUnavailableError(
    `the zarr-saver native core did not load (${reason}). Build it with 'npm run build:native' ` +
      "(needs a Rust toolchain and a C compiler) or reinstall the package for this platform.",
    { cause: loadError },
  );
}
