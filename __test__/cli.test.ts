/**
 * The package's bin (dist/cli.mjs, built by `npm run build:ts`): help on stdout with
 * exit 0, and usage errors on stderr with exit 2. The worker itself is tested in
 * distributed.test.ts.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "./helpers/child.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "dist", "cli.mjs");

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error("dist/cli.mjs is missing: run `npm run build:ts` first");
  if (statSync(join(ROOT, "src", "cli.ts")).mtimeMs > statSync(CLI).mtimeMs)
    throw new Error("dist/cli.mjs is older than src/cli.ts: run `npm run build:ts`");
});

const cli = (...args: string[]) => runCommand(process.execPath, [CLI, ...args], process.env);

describe("zarr-saver (the bin)", () => {
  it.each([["--help"], ["-h"], ["help"]])("%s prints the commands on stdout and exits 0", async (flag) => {
    const run = await cli(flag);
    expect(run).toMatchObject({ code: 0, err: "" });
    expect(run.out).toMatch(/^usage: zarr-saver worker --connection/);
    expect(run.out).toContain("zarr-saver worker --help");
  });

  it.each([["--help"], ["-h"]])("worker %s prints the worker's options on stdout and exits 0", async (flag) => {
    const run = await cli("worker", flag);
    expect(run).toMatchObject({ code: 0, err: "" });
    for (const option of ["--connection", "--queue", "--concurrency", "--lock-duration", "--prefix"]) {
      expect(run.out).toContain(`  ${option} `);
    }
  });

  it("worker --help wins over missing or unknown options", async () => {
    const run = await cli("worker", "--queue", "q", "--help");
    expect(run.code).toBe(0);
  });

  it("no command: usage on stderr, exit 2", async () => {
    const run = await cli();
    expect(run).toMatchObject({ code: 2, out: "" });
    expect(run.err).toMatch(/^usage: zarr-saver worker/);
  });

  it("an unknown command is named, exit 2", async () => {
    const run = await cli("serve");
    expect(run).toMatchObject({ code: 2, out: "" });
    expect(run.err).toContain("unknown command 'serve'");
  });

  it("worker without --connection and --queue says they are required, exit 1", async () => {
    const run = await cli("worker");
    expect(run).toMatchObject({ code: 1, out: "" });
    expect(run.err).toContain("--connection and --queue are required");
  });
});
