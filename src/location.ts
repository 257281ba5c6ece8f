/** Where a dataset lives: `filePath` (local path, `file://` URL, object-store URL) and `datasetName`; the core owns the rules of both. */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromNativeError, InvalidArgumentError } from "./errors.js";
import { loadedBinding } from "./native.js";

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** A local absolute path, or the object-store URL unchanged. */
export function resolveLocation(filePath: unknown): string {
  if (filePath instanceof URL) filePath = filePath.href;
  if (typeof filePath !== "string" || filePath.trim() === "") {
    throw new InvalidArgumentError(
      `filePath must be a non-empty string or URL; got ${JSON.stringify(filePath) ?? String(filePath)}`,
    );
  }
  if (filePath.includes("\0")) throw new InvalidArgumentError("filePath contains a NUL character");
  const scheme = URL_SCHEME.exec(filePath)?.[1]?.toLowerCase();
  if (scheme === undefined) return resolve(filePath);
  if (scheme === "file") {
    try {
      return fileURLToPath(filePath);
    } catch (err) {
      throw new InvalidArgumentError(`filePath '${filePath}' is not a valid file:// URL`, { cause: err });
    }
  }
  if (scheme === "http" || scheme === "https") {
    throw new InvalidArgumentError(
      `filePath '${redact(filePath)}': http(s) stores are read-only; zarr-saver cannot write to them`,
    );
  }
  // The core owns the table of object-store schemes: an unknown one is refused
  // here with the error a save would give. Without the core nothing saves anyway.
  try {
    loadedBinding()?.checkObjectStoreUrl(filePath);
  } catch (err) {
    throw fromNativeError(err);
  }
  return filePath;
}

/**
 * `url` fit for a message or a log, credentials masked: the core's rule. Without
 * the core, everything after the scheme is masked.
 */
export function redact(url: string): string {
  const native = loadedBinding();
  return native ? native.redact(url) : url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*$/i, "$1***");
}

/**
 * A `/`-separated path inside the container that cannot escape it: the core's rule.
 * Without the core nothing can be saved, and the name is checked when a save would be.
 */
export function validateDatasetName(name: unknown): string {
  if (typeof name !== "string") {
    throw new InvalidArgumentError(`datasetName must be a string; got ${String(name)}`);
  }
  try {
    loadedBinding()?.checkDatasetName(name);
  } catch (err) {
    throw fromNativeError(err);
  }
  return name;
}
