/**
 * What the worker pool (workers.ts) and each worker thread (worker.ts) say to
 * each other, and how an error crosses between them. Both sides import these
 * types, so the compiler checks one against the other.
 *
 * The pool starts a thread with {@link WorkerSetup} as its `workerData`, posts
 * a {@link UnitRequest} per unit, and the thread answers each with a
 * {@link UnitReply}, in the order the requests came.
 */
import type { TaskStage } from "./errors.js";

/** A thread's `workerData`. */
export interface WorkerSetup {
  /** Absolute `file:` or `data:` URL of the task module, for `import()`. */
  moduleUrl: string;
  /** Call `processItems(items)` rather than `processItem(item)`. */
  atOnce: boolean;
}

/** One unit for a thread to compute; `id` pairs it with its reply. */
export interface UnitRequest<I = unknown> {
  id: number;
  items: I[];
}

/**
 * The answer to a {@link UnitRequest}: its results, or where it failed. `offset`
 * is the failing item's position in the request's items and `count` how many
 * items the failure covers (as in run-unit.ts).
 */
export type UnitReply<R = unknown> =
  | { id: number; ok: true; results: R[] }
  | { id: number; ok: false; stage: TaskStage; offset: number; count: number; error: DescribedError };

/**
 * An error as plain data. Structured clone keeps an error's message, stack and
 * built-in class but drops its own properties (`code`) and a subclass's `name`,
 * so a thread sends this instead and the pool rebuilds the error.
 */
export interface DescribedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
}

/** `value` as an object whose properties can be read, or undefined. */
function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
}

/** Describe what a task threw: an error keeps its name, message, stack and code; anything else becomes a message. */
export function describeError(err: unknown): DescribedError {
  const fields = asRecord(err);
  if (fields !== undefined && typeof fields.message === "string") {
    const { name, message, stack, code } = fields;
    const described: DescribedError = { name: typeof name === "string" ? name : "Error", message };
    if (typeof stack === "string") described.stack = stack;
    if (typeof code === "string" || typeof code === "number") described.code = code;
    return described;
  }
  let text: string;
  try {
    text = String(err);
  } catch {
    // Objects without a usable toString (Object.create(null), a throwing Symbol.toPrimitive ...).
    text = Object.prototype.toString.call(err);
  }
  return { name: "Error", message: `task threw a non-error value: ${text}` };
}

const BUILTIN_ERRORS: Record<string, new (message: string) => Error> = {
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Rebuild a thread's error on this side: same class for built-in errors, same name, message, stack and code. */
export function reviveError(described: DescribedError): Error {
  const Class = BUILTIN_ERRORS[described.name] ?? Error;
  const err: Error & { code?: string | number } = new Class(described.message);
  if (err.name !== described.name) err.name = described.name;
  if (described.stack !== undefined) err.stack = described.stack;
  if (described.code !== undefined) err.code = described.code;
  return err;
}

/** `data` as a {@link WorkerSetup}, or a TypeError: a thread checks what it was started with. */
export function readWorkerSetup(data: unknown): WorkerSetup {
  const fields = asRecord(data);
  if (fields === undefined || typeof fields.moduleUrl !== "string" || typeof fields.atOnce !== "boolean") {
    throw new TypeError("the pipeline's worker needs workerData { moduleUrl: string, atOnce: boolean }");
  }
  return { moduleUrl: fields.moduleUrl, atOnce: fields.atOnce };
}
