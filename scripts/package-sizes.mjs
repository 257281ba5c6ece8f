#!/usr/bin/env node
// README's size table, measured from the tarballs in pack/ (npm run pack:local): the
// main package (packed, and its files unpacked) and the binary package (packed, and
// the binary itself). --write refreshes the rows the packed files can measure;
// --check fails when one of them is off by more than TOLERANCE, or the table is not
// the one this script renders.
//
//   node scripts/package-sizes.mjs --check | --write
//
// The binary's size depends on the cargo profile that built it: the published binary
// comes from `npm run build:release` (fat LTO, stripped), a clone's and .ci/run's from
// the faster `local` profile, two and a half times as large. So the table has one row
// per profile, each labelled, and a run measures only the row of the binary at hand:
// .ci/run keeps the local row true, the release workflow (which packs the release
// binary) the release row, and neither fails for the other's build. Both profiles are
// told apart by the symbol table the release profile strips.
//
// Sizes are compared within TOLERANCE, not to the byte: the main tarball holds this
// README, so writing the table changes what it measures, and every change of the code
// moves the sizes a little. A row off by more wants a --write (and a commit).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tarEntries } from "./tarball.mjs";

const TOLERANCE = 0.05;
const BEGIN = "<!-- package-sizes: begin (node scripts/package-sizes.mjs --write; checked by --check) -->";
const END = "<!-- package-sizes: end -->";

const root = fileURLToPath(new URL("..", import.meta.url));
const readmePath = join(root, "README.md");
const packDir = join(root, "pack");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const mode = process.argv[2];
if (mode !== "--check" && mode !== "--write") {
  console.error("usage: node scripts/package-sizes.mjs --check | --write");
  process.exit(2);
}

const tarballs = existsSync(packDir) ? readdirSync(packDir).filter((f) => f.endsWith(".tgz")) : [];
const mainTarball = `${pkg.name}-${pkg.version}.tgz`;
const binaryTarball = tarballs.find((f) => f !== mainTarball);
if (!tarballs.includes(mainTarball) || tarballs.length !== 2) {
  console.error("pack/ must hold the main package and one binary package: run 'npm run pack:local' first");
  process.exit(1);
}
const binaryPackage = binaryTarball.slice(0, -`-${pkg.version}.tgz`.length);

const PROFILES = {
  release: "release profile, published (`npm run build:release`: fat LTO, stripped)",
  local: "local profile, a clone's build (`npm run build:native`, what `.ci/run` packs)",
};
const label = (key) => {
  if (key === "main") return `main package \`${pkg.name}\` (JavaScript, types, loader, docs; no binary)`;
  const [name, profile] = key.split(" ");
  return `binary package \`${name}\`, ${PROFILES[profile]}`;
};

// --- measure -----------------------------------------------------------------------
const sizeOf = (file) => readFileSync(join(packDir, file)).length;
const mainEntries = tarEntries(join(packDir, mainTarball));
const binaryEntry = tarEntries(join(packDir, binaryTarball)).find((e) => e.name.endsWith(".node"));
if (!binaryEntry) throw new Error(`${binaryTarball} holds no .node file`);
const profile = buildProfile(binaryEntry.data);
const measured = new Map([["main", { packed: sizeOf(mainTarball), unpacked: mainEntries.reduce((sum, e) => sum + e.size, 0) }]]);
if (profile !== undefined) {
  measured.set(`${binaryPackage} ${profile}`, { packed: sizeOf(binaryTarball), unpacked: binaryEntry.size });
}

/** "release" when the ELF binary has no symbol table, "local" when it has; undefined for other formats. */
function buildProfile(bytes) {
  const elf = bytes[0] === 0x7f && bytes.toString("latin1", 1, 4) === "ELF" && bytes[4] === 2 && bytes[5] === 1;
  if (!elf) return undefined; // only 64-bit little-endian ELF is told apart
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(view.getBigUint64(0x28, true));
  const [shentsize, shnum, shstrndx] = [view.getUint16(0x3a, true), view.getUint16(0x3c, true), view.getUint16(0x3e, true)];
  const section = (i) => shoff + i * shentsize;
  const names = Number(view.getBigUint64(section(shstrndx) + 0x18, true));
  for (let i = 0; i < shnum; i += 1) {
    const start = names + view.getUint32(section(i), true);
    if (bytes.toString("latin1", start, bytes.indexOf(0, start)) === ".symtab") return "local";
  }
  return "release";
}

// --- the table in README -----------------------------------------------------------
const readme = readFileSync(readmePath, "utf8");
const [before, rest] = readme.split(BEGIN);
if (rest === undefined || !rest.includes(END)) {
  console.error(`README.md lacks the markers of the size table:\n${BEGIN}\n${END}`);
  process.exit(1);
}
const [block, after] = rest.split(END);

/** The rows in README, by key: packed and unpacked bytes. */
const recorded = new Map();
for (const line of block.split("\n")) {
  const bytes = [...line.matchAll(/\(([\d,]+) bytes\)/g)].map((m) => Number(m[1].replaceAll(",", "")));
  const name = /`([^`]+)`/.exec(line)?.[1];
  const key = ["main", ...Object.keys(PROFILES).map((p) => `${name} ${p}`)].find((k) => line.startsWith(`| ${label(k)} |`));
  if (key && bytes.length === 2) recorded.set(key, { packed: bytes[0], unpacked: bytes[1] });
}

const human = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} KB`);
const cell = (bytes) => `${human(bytes)} (${bytes.toLocaleString("en-US")} bytes)`;
function render(rows) {
  const order = [...rows.keys()].sort((a, b) => (a === "main" ? -1 : b === "main" ? 1 : a < b ? 1 : -1));
  return [
    "",
    "| measured from the packed files | packed | unpacked |",
    "|---|---|---|",
    ...order.map((key) => `| ${label(key)} | ${cell(rows.get(key).packed)} | ${cell(rows.get(key).unpacked)} |`),
    "",
  ].join("\n");
}

const off = [...measured].filter(([key, now]) => {
  const then = recorded.get(key);
  return !then || ["packed", "unpacked"].some((k) => Math.abs(now[k] - then[k]) > TOLERANCE * then[k]);
});
const note = profile === undefined ? `; ${binaryEntry.name} is not ELF: its profile is unknown, its row not measured` : "";

if (mode === "--write") {
  const rows = new Map([...recorded, ...measured]);
  writeFileSync(readmePath, `${before}${BEGIN}${render(rows)}${END}${after}`);
  console.log(`README.md: size table written (${[...measured.keys()].join(", ")})${note}`);
  process.exit(0);
}
for (const [key, now] of measured) {
  const then = recorded.get(key);
  const shown = then ? `README ${then.packed} / ${then.unpacked}` : "no row in README";
  console.log(
    `${off.some(([k]) => k === key) ? "FAIL" : "ok  "} ${key}: packed ${now.packed}, unpacked ${now.unpacked} bytes (${shown})`,
  );
}
const stale = block !== render(recorded);
if (stale) console.log("FAIL the table is not the one this script renders: run with --write");
if (off.length > 0 || stale) {
  console.log(`README's size table is stale (more than ${TOLERANCE * 100}% off): run 'node scripts/package-sizes.mjs --write'`);
  process.exit(1);
}
console.log(`package sizes: README's table holds within ${TOLERANCE * 100}%${note}`);
