import { spawn } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

export interface ChildRun {
  code: number | null;
  out: string;
  err: string;
}

/** Run `command args` from the repository root; resolves with its exit code and output. */
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** Run a fixture of __test__/fixtures with this node. */
export function runFixture(fixture: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildRun> {
  return runCommand(process.execPath, [join(ROOT, "__test__", "fixtures", fixture), ...args], env);
}
