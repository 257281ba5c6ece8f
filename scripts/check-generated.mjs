#!/usr/bin/env node
// The generated loader and types are committed so that the published package and a
// checkout agree on them. Run after `npm run build`: fails when the build produced
// something other than what is committed (the fix is to commit the regenerated files).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const GENERATED = ["index.cjs", "index.d.ts"];
const root = fileURLToPath(new URL("..", import.meta.url));
const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8" });

const untracked = GENERATED.filter((file) => git("ls-files", "--", file).trim() === "");
if (untracked.length > 0) {
  console.error(`not committed: ${untracked.join(", ")}; run 'npm run build' and commit them`);
  process.exit(1);
}
const changed = git("diff", "--name-only", "HEAD", "--", ...GENERATED).trim();
if (changed !== "") {
  console.error(`'npm run build' changed the committed generated files:\n${changed}\n`);
  console.error(git("diff", "--stat", "HEAD", "--", ...GENERATED));
  console.error("Commit the regenerated files (they are what the published package ships).");
  process.exit(1);
}
console.log(`generated files match the commit: ${GENERATED.join(", ")}`);
