/**
 * Every error zarr-saver throws is a {@link ZarrSaverError} with a stable `code`
 * and a subclass per code, so callers can branch with `instanceof` or on `code`.
 * Messages name the offending field and value and never contain credentials.
 */

/** The stable error codes, one per error class. */
export type ErrorCode =
  | "ERR_ZARR_NATIVE_UNAVAILABLE"
  | "ERR_ZARR_INVALID_ARGUMENT"
  | "ERR_ZARR_INVALID_DATA"
  | "ERR_ZARR_INDICES_REQUIRED"
  | "ERR_ZARR_NOT_FOUND"
  | "ERR_ZARR_SHAPE_MISMATCH"
  | "ERR_ZARR_DTYPE_MISMATCH"
  | "ERR_ZARR_OUT_OF_BOUNDS"
  | "ERR_ZARR_UNSUPPORTED"
  | "ERR_ZARR_CONFLICT"
  | "ERR_ZARR_STORE"
  | "ERR_ZARR_CORRUPT"
  | "ERR_ZARR_INTERNAL"
  | "ERR_ZARR_TASK_FAILED"
  | "ERR_ZARR_QUEUE_UNAVAILABLE";

/** Base class of every zarr-saver error. */
export class ZarrSaverError extends Error {
  /** Stable code of the error, one per class. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The native addon did not load; the message says why and how to build it. */
export class NativeUnavailableError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_NATIVE_UNAVAILABLE", message, options);
  }
}

/** A bad option, approach, path or dataset name. */
export class InvalidArgumentError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_INVALID_ARGUMENT", message, options);
  }
}

/** The data cannot become an array (ragged, mixed kinds, null, empty ...). */
export class InvalidDataError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_INVALID_DATA", message, options);
  }
}

/** `update` was called without `indices`. */
export class IndicesRequiredError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_INDICES_REQUIRED", message, options);
  }
}

/** `update` of a dataset that does not exist. */
export class DatasetNotFoundError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_NOT_FOUND", message, options);
  }
}

/** The data's trailing shape, or the selection's shape, differs. */
export class ShapeMismatchError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_SHAPE_MISMATCH", message, options);
  }
}

/** A lossy or impossible cast to the stored dtype. */
export class DtypeMismatchError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_DTYPE_MISMATCH", message, options);
  }
}

/** An index outside the array. */
export class OutOfBoundsError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_OUT_OF_BOUNDS", message, options);
  }
}

/** A codec, dtype or store the core cannot write. */
export class UnsupportedError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_UNSUPPORTED", message, options);
  }
}

/** A concurrent writer won and retries ran out. */
export class ConflictError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_CONFLICT", message, options);
  }
}

/** I/O failed (permission, ENOSPC, network); `cause.code` keeps the OS error name when known. */
export class StoreError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_STORE", message, options);
  }
}

/** Existing metadata or a chunk is unreadable, or its sizes are more than a save may hold (`maxChunkBytes`). */
export class CorruptMetadataError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_CORRUPT", message, options);
  }
}

/**
 * A bug in the native core (a caught panic): the save failed, the dataset is as it
 * was, and the process lives on. The message says where the core failed.
 */
export class InternalError extends ZarrSaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_ZARR_INTERNAL", message, options);
  }
}

type ErrorClass = new (message: string, options?: { cause?: unknown }) => ZarrSaverError;

// Codes the native core can report (task failures and the queue's arise in the JS pipeline only).
const CLASS_OF_CODE: Record<Exclude<ErrorCode, "ERR_ZARR_TASK_FAILED" | "ERR_ZARR_QUEUE_UNAVAILABLE">, ErrorClass> = {
  ERR_ZARR_NATIVE_UNAVAILABLE: NativeUnavailableError,
  ERR_ZARR_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_ZARR_INVALID_DATA: InvalidDataError,
  ERR_ZARR_INDICES_REQUIRED: IndicesRequiredError,
  ERR_ZARR_NOT_FOUND: DatasetNotFoundError,
  ERR_ZARR_SHAPE_MISMATCH: ShapeMismatchError,
  ERR_ZARR_DTYPE_MISMATCH: DtypeMismatchError,
  ERR_ZARR_OUT_OF_BOUNDS: OutOfBoundsError,
  ERR_ZARR_UNSUPPORTED: UnsupportedError,
  ERR_ZARR_CONFLICT: ConflictError,
  ERR_ZARR_STORE: StoreError,
  ERR_ZARR_CORRUPT: CorruptMetadataError,
  ERR_ZARR_INTERNAL: InternalError,
};

/** The OS error behind a {@link StoreError}, as Node names it (`err.code === "ENOSPC"`). */
export class OsError extends Error {
  /** Node's name of the OS error: `"ENOSPC"`, `"EACCES"` ... */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = "OsError";
  }
}

/** The core's code for a cancelled save: the facade rethrows the AbortSignal's reason. */
const ABORTED = "ERR_ZARR_ABORTED";

/** The codes the core can report, as the facade knows them (held to the core's table by a test). */
export const CORE_ERROR_CODES: readonly string[] = [
  ...Object.keys(CLASS_OF_CODE).filter((code) => code !== "ERR_ZARR_NATIVE_UNAVAILABLE"),
  ABORTED,
];

// The core reports `CODE[ERRNO]: message` (see native/core/src/error.rs `to_wire`).
const WIRE = /^(ERR_ZARR_[A-Z_]+)(?:\[([A-Z0-9]+)\])?: ([\s\S]*)$/;

/** Turn an error thrown by the native binding into the matching class. */
export function fromNativeError(err: unknown): Error {
  if (err instanceof ZarrSaverError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const match = WIRE.exec(message);
  // A cancelled save: the facade rethrows the AbortSignal's reason, as fetch() does.
  if (match?.[1] === ABORTED) return new DOMException(match[3] as string, "AbortError");
  const code = match?.[1] as keyof typeof CLASS_OF_CODE | undefined;
  if (!match || !code || !(code in CLASS_OF_CODE)) {
    return new StoreError(`native core failed: ${message}`, { cause: err });
  }
  const [, , errno, text] = match;
  const cause = errno ? new OsError(errno, text as string) : undefined;
  return new CLASS_OF_CODE[code](text as string, cause ? { cause } : undefined);
}
