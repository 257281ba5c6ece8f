import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll } from "vitest";
import { nativeBinding } from "../../src/native.js";

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory, removed after the test file. */
export function tempDir(prefix = "zarr-saver-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Let the addon's background file work finish: files displaced by earlier saves are
 * removed, so a tree holds only dataset files.
 */
export function settleFiles(): void {
  nativeBinding().settleFiles();
}

/** Every file under `root` with its bytes: compare before/after to prove nothing changed. */
export function snapshotTree(root: string): Record<string, string> {
  settleFiles();
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(root, path)] = readFileSync(path).toString("base64");
    }
  };
  walk(root);
  return out;
}
