import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/** The address-space limit every hostile case runs under: 3 GiB, in KiB for `ulimit -v`. */
export const ADDRESS_SPACE_KIB = 3 * 1024 * 1024;

export interface LimitedRun {
  /** Exit code, `null` when a signal ended the child (an abort: SIGABRT). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** One parsed JSON line per case the child finished. */
  lines: Record<string, unknown>[];
  err: string;
}

/**
 * Run the cases through __test__/fixtures/hostile-save.mjs in a child process under
 * a 3 GiB address-space limit, killed after `timeoutMs`.
 */
export function runLimited(cases: unknown[], dir: string, timeoutMs: number): Promise<LimitedRun> {
  const file = join(dir, `cases-${process.hrtime.bigint()}.json`);
  writeFileSync(file, JSON.stringify({ cases }));
  const fixture = join(ROOT, "__test__", "fixtures", "hostile-save.mjs");
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", `ulimit -v ${ADDRESS_SPACE_KIB} && exec "$0" "$@"`, process.execPath, fixture, file], {
      cwd: ROOT,
      env: { ...process.env, ZARR_SAVER_TEST_PANIC: undefined },
    });
    let out = "";
    let err = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const lines = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, timedOut, lines, err });
    });
  });
}
