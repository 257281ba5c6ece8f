import { execFileSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

// The venv scripts check their venv by importing every package in it (seconds): once
// per test worker, not once per call.
let projectPython: string | undefined;
let icechunkVenvPython: string | undefined;

/** The project venv's python (created on first use by scripts/python-venv.sh). */
export function venvPython(): string {
  projectPython ??= execFileSync("bash", [join(ROOT, "scripts", "python-venv.sh")], { encoding: "utf8" }).trim();
  return projectPython;
}

/** Run a Python snippet in the venv; `args` arrive as sys.argv[1:]; stdout is parsed as JSON. */
export function runPython<T = unknown>(code: string, args: string[] = []): T {
  const out = execFileSync(venvPython(), ["-c", code, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  return JSON.parse(out) as T;
}

/** The Python >= 3.12 venv with icechunk 2 (created on first use by scripts/python-icechunk-venv.sh). */
export function icechunkPython(): string {
  icechunkVenvPython ??= execFileSync("bash", [join(ROOT, "scripts", "python-icechunk-venv.sh")], {
    encoding: "utf8",
  }).trim();
  return icechunkVenvPython;
}

/**
 * Appended to every icechunk snippet: once its work is done it leaves with `os._exit`,
 * past the interpreter's finalization. Python icechunk's tokio threads may still touch
 * the interpreter while it finalizes, and under load that crashed it (a segfault in
 * libpython on a `tokio-rt-worker` thread, after the snippet had printed its result).
 */
const EXIT_AFTER_WORK = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n";

/** Run a Python snippet with icechunk; `args` arrive as sys.argv[1:]; stdout is parsed as JSON. */
export function runIcechunkPython<T = unknown>(code: string, args: string[] = []): T {
  try {
    const out = execFileSync(icechunkPython(), ["-c", code + EXIT_AFTER_WORK, ...args], {
      encoding: "utf8",
      maxBuffer: 1 << 28,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out) as T;
  } catch (e) {
    // The traceback, not only "Command failed", in the test's failure
    const stderr = (e as { stderr?: string }).stderr;
    throw stderr ? new Error(`icechunk Python failed:\n${stderr}`) : e;
  }
}
