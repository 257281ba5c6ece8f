#!/usr/bin/env node
// Writes into pack/ what a release publishes for this machine: the main package
// (JavaScript, types, loader; no binary) and this platform's binary package, built
// with `npm run build` (the local profile; the release workflow packs release
// builds). The main package.json is the one a release publishes: without the
// scripts (scripts/packed-manifest.mjs), with the optionalDependencies that the
// release workflow's pre-publish step writes: one binary package per directory
// under npm/, at the package's version. The working tree is left as it was: both
// packages are staged under pack/.stage and packed from there.
//
//   node scripts/pack-local.mjs [--no-build]
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { packedManifest } from "./packed-manifest.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const packDir = join(root, "pack");
const stage = join(packDir, ".stage");
// npm as `node npm-cli.js` when run from an npm script: Windows' npm.cmd needs a shell.
const [npm, ...npmPrefix] = process.env.npm_execpath?.endsWith(".js") ? [process.execPath, process.env.npm_execpath] : ["npm"];
const run = (cwd, ...args) =>
  execFileSync(npm, [...npmPrefix, ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

if (!process.argv.includes("--no-build")) {
  // The native addon (local profile) and the TypeScript facade.
  execFileSync(npm, [...npmPrefix, "run", "build"], { cwd: root, stdio: "inherit" });
}

rmSync(packDir, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// Main package: exactly the files npm would pack from the root, plus optionalDependencies.
const pkg = readJson(join(root, "package.json"));
const [listing] = JSON.parse(run(root, "pack", "--dry-run", "--json", "--ignore-scripts"));
const mainStage = join(stage, "main");
for (const { path } of listing.files) {
  mkdirSync(dirname(join(mainStage, path)), { recursive: true });
  copyFileSync(join(root, path), join(mainStage, path));
}
const platforms = readdirSync(join(root, "npm")).filter((dir) => existsSync(join(root, "npm", dir, "package.json")));
const optionalDependencies = Object.fromEntries(
  platforms.map((dir) => [readJson(join(root, "npm", dir, "package.json")).name, pkg.version]).sort(),
);
writeFileSync(join(mainStage, "package.json"), `${JSON.stringify({ ...packedManifest(pkg), optionalDependencies }, null, 2)}\n`);
const mainTarball = pack(mainStage);

// This platform's binary package: the npm/ directory the build's file name points to.
const built = readdirSync(root).filter((f) => f.startsWith(`${pkg.napi.binaryName}.`) && f.endsWith(".node"));
if (built.length !== 1) throw new Error(`expected one built binary at the package root, found: ${built.join(", ") || "none"}`);
const platform = built[0].slice(pkg.napi.binaryName.length + 1, -".node".length);
if (!platforms.includes(platform)) throw new Error(`no npm/${platform} package for the binary ${built[0]}`);
const binaryStage = join(stage, platform);
cpSync(join(root, "npm", platform), binaryStage, { recursive: true });
copyFileSync(join(root, built[0]), join(binaryStage, built[0]));
const binaryTarball = pack(binaryStage);

rmSync(stage, { recursive: true, force: true });
for (const file of [mainTarball, binaryTarball]) {
  console.log(`${join("pack", file)}  ${(statSync(join(packDir, file)).size / 1024).toFixed(1)} KiB`);
}
console.log(`binary ${built[0]}  ${(statSync(join(root, built[0])).size / 1024 / 1024).toFixed(1)} MiB`);

function pack(dir) {
  // Scripts are skipped: the staged copy has no sources to build from, and the build already ran.
  const [result] = JSON.parse(run(dir, "pack", "--json", "--ignore-scripts", "--pack-destination", packDir));
  return result.filename;
}
