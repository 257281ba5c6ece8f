#!/usr/bin/env node
// The main package's package.json as published: the repository's, without `scripts`.
// Every script is for a clone (build, test, bench, release steps); in an installed
// package `prepare` would make npm 11 warn that the package has install scripts, and
// none of the others can run without the sources. `npm run pack:local` packs this
// manifest; the release workflow writes it over package.json just before publishing.
//
//   node scripts/packed-manifest.mjs --write   (rewrites ./package.json in place)
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** `pkg` as published: everything but the scripts. */
export function packedManifest(pkg) {
  const { scripts: _scripts, ...published } = pkg;
  return published;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes("--write")) {
    console.error("usage: node scripts/packed-manifest.mjs --write");
    process.exit(2);
  }
  const file = fileURLToPath(new URL("../package.json", import.meta.url));
  writeFileSync(file, `${JSON.stringify(packedManifest(JSON.parse(readFileSync(file, "utf8"))), null, 2)}\n`);
  console.log("package.json: scripts removed for publishing");
}
