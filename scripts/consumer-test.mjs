#!/usr/bin/env node
// Installs the tarballs in pack/ (npm run pack:local) the way a user installs the
// published package: into a fresh project, with no Rust toolchain on PATH and no
// registry (the binary package comes from its tarball, the other platforms' optional
// packages are skipped), with no warning about install scripts. Then an ESM and a
// CommonJS program save through it, a strict NodeNext TypeScript program type-checks
// against its types, and the main tarball's contents, size, exports and types are checked.
//
//   node scripts/consumer-test.mjs [--keep]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tarEntries } from "./tarball.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const packDir = join(root, "pack");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const MAX_MAIN_BYTES = 1_000_000;
const results = { passed: 0, failed: 0 };

const tarballs = existsSync(packDir) ? readdirSync(packDir).filter((f) => f.endsWith(".tgz")) : [];
const mainTarball = tarballs.find((f) => f === `${pkg.name}-${pkg.version}.tgz`);
const binaryTarballs = tarballs.filter((f) => f !== mainTarball);
if (!mainTarball || binaryTarballs.length !== 1) {
  console.error(`pack/ must hold ${pkg.name}-${pkg.version}.tgz and one binary package: run 'npm run pack:local' first`);
  process.exit(1);
}
const mainPath = join(packDir, mainTarball);
const binaryPath = join(packDir, binaryTarballs[0]);
const binaryPackage = binaryTarballs[0].slice(0, -`-${pkg.version}.tgz`.length);

function check(name, fn) {
  try {
    fn();
    results.passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    results.failed += 1;
    console.log(`FAIL ${name}\n${String(err?.stderr || err?.stdout || err?.message || err).trim()}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// Tools run as `node <script>`: the same on every platform, where `.cmd` shims and a
// POSIX shell are not.
const npm = process.env.npm_execpath?.endsWith(".js") ? [process.execPath, process.env.npm_execpath] : ["npm"];
const binScript = (name, command) => {
  const dir = join(root, "node_modules", name);
  const { bin } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return [process.execPath, join(dir, typeof bin === "string" ? bin : bin[command])];
};

// --- the main tarball: JavaScript, types and loader only ---------------------------
const entries = tarEntries(mainPath).map((entry) => entry.name);
check(`main tarball holds no binary and no Rust sources (${entries.length} files)`, () => {
  const bad = entries.filter((e) => /\.(node|rs)$|Cargo\.(toml|lock)$|^package\/native\//.test(e));
  assert(bad.length === 0, `unexpected files: ${bad.join(", ")}`);
});
const mainBytes = statSync(mainPath).size;
check(`main tarball under 1 MB (${(mainBytes / 1024).toFixed(1)} KiB)`, () => {
  assert(mainBytes < MAX_MAIN_BYTES, `${mainBytes} bytes`);
});
check("publint --strict reports nothing", () => {
  const [node, publint] = binScript("publint", "publint");
  const out = execFileSync(node, [publint, "run", "--strict", mainPath], { encoding: "utf8" });
  assert(/All good!/.test(out), out);
});
check("arethetypeswrong reports no problem", () => {
  // @types lookups would need the registry; the package ships its own types.
  const [node, attw] = binScript("@arethetypeswrong/cli", "attw");
  execFileSync(node, [attw, mainPath, "--no-definitely-typed", "--format", "ascii"], { encoding: "utf8" });
});

// --- install into a fresh project, with no Rust toolchain and no registry ----------
const project = mkdtempSync(join(tmpdir(), "zarr-saver-consumer-"));
const cleanup = [project];
const isToolchainDir = (dir) =>
  ["cargo", "rustc", "rustup"].some((tool) => existsSync(join(dir, tool)) || existsSync(join(dir, `${tool}.exe`)));
const pathDirs = [dirname(process.execPath), ...(process.env.PATH ?? "").split(delimiter)].filter(
  (dir, i, all) => dir !== "" && all.indexOf(dir) === i && !isToolchainDir(dir),
);
const env = { ...process.env, PATH: pathDirs.join(delimiter), npm_config_update_notifier: "false" };
for (const key of Object.keys(env)) {
  if (/^(CARGO|RUSTUP|RUSTC)/.test(key) || key.startsWith("npm_package_") || key.startsWith("npm_lifecycle_")) delete env[key];
}
const inProject = (cmd, args) => execFileSync(cmd, args, { cwd: project, env, encoding: "utf8", stdio: "pipe" });

writeFileSync(
  join(project, "package.json"),
  `${JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }, null, 2)}\n`,
);
let installSeconds = Number.NaN;
check("no Rust toolchain on the consumer's PATH", () => {
  for (const tool of ["cargo", "rustc"]) {
    const found = spawnSync(tool, ["--version"], { env, encoding: "utf8" });
    assert(found.error !== undefined, `${tool} runs: ${found.stdout}`);
  }
});
let installLog = "";
check("npm install of the two tarballs, offline", () => {
  const started = process.hrtime.bigint();
  const [command, ...prefix] = npm;
  const install = spawnSync(command, [...prefix, "install", "--offline", "--no-audit", "--no-fund", mainPath, binaryPath], {
    cwd: project,
    env,
    encoding: "utf8",
  });
  installSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  installLog = `${install.stdout}${install.stderr}`;
  assert(install.status === 0, installLog);
  const installed = (name) => existsSync(join(project, "node_modules", name, "package.json"));
  assert(installed(pkg.name) && installed(binaryPackage), "packages missing from node_modules");
});
console.log(`     install took ${installSeconds.toFixed(2)} s`);
// npm 11 warns about a tarball whose package.json keeps `prepare` (or any install
// script): the published manifest has no scripts at all (scripts/packed-manifest.mjs).
check("the installed package.json has no scripts, and npm warned about none", () => {
  const installed = JSON.parse(readFileSync(join(project, "node_modules", pkg.name, "package.json"), "utf8"));
  assert(installed.scripts === undefined, `scripts: ${JSON.stringify(installed.scripts)}`);
  assert(!/install.scripts|prepare/i.test(installLog), installLog);
});

// Each program saves twice (create, then append) and prints what the saves resolved with.
const program = (importLine) => `${importLine}
const where = process.argv[2];
if (!HAS_NATIVE) throw new Error("HAS_NATIVE is false");
const saver = new ZarrSaver(where, { datasetName: "run/values" });
const first = await saver.save([1, 2, 3]);
const second = saver.saveSync(new Float32Array([4, 5]));
console.log(JSON.stringify([first.shape, second.shape, second.dtype, first.created]));
`;
writeFileSync(join(project, "esm.mjs"), program('import { HAS_NATIVE, ZarrSaver } from "zarr-saver";'));
writeFileSync(
  join(project, "cjs.cjs"),
  `(async () => {\n${program('const { HAS_NATIVE, ZarrSaver } = require("zarr-saver");')}\n})().catch((e) => { console.error(e); process.exit(1); });\n`,
);
for (const file of ["esm.mjs", "cjs.cjs"]) {
  check(`${file === "esm.mjs" ? "ESM import" : "CommonJS require"}: save and saveSync write an array`, () => {
    const out = inProject(process.execPath, [file, join(project, `${file}.zarr`)]);
    assert(out.trim() === JSON.stringify([[3], [5], "float64", true]), out);
    assert(existsSync(join(project, `${file}.zarr`, "run", "values", "zarr.json")), "no zarr.json written");
  });
}
check("the binary came from the platform package, not a local build", () => {
  const out = inProject(process.execPath, [
    "-e",
    `const r = require("module").createRequire(require.resolve("zarr-saver/package.json"));
     console.log(r.resolve(${JSON.stringify(binaryPackage)}));`,
  ]);
  assert(out.includes(join("node_modules", binaryPackage)), out);
  const local = readdirSync(join(project, "node_modules", pkg.name)).filter((f) => f.endsWith(".node"));
  assert(local.length === 0, `main package holds ${local.join(", ")}`);
});

// Without the binary package (an install that omitted optional dependencies), the error
// must name the platform, the package looked for, and how to build from source.
check("without the binary package: HAS_NATIVE is false and the error says what to install or build", () => {
  // Not under the first project: Node would find its node_modules by walking up.
  const bare = mkdtempSync(join(tmpdir(), "zarr-saver-consumer-bare-"));
  cleanup.push(bare);
  writeFileSync(join(bare, "package.json"), `${JSON.stringify({ name: "bare", version: "1.0.0", private: true }, null, 2)}\n`);
  const [command, ...prefix] = npm;
  execFileSync(command, [...prefix, "install", "--offline", "--omit=optional", "--no-audit", "--no-fund", mainPath], {
    cwd: bare,
    env,
    stdio: "pipe",
  });
  const script = `const m = require("zarr-saver");
    try { new m.ZarrSaver("out.zarr").saveSync([1]); } catch (e) { console.log(JSON.stringify([m.HAS_NATIVE, e.code, e.message])); }`;
  const [hasNative, code, message] = JSON.parse(
    execFileSync(process.execPath, ["-e", script], { cwd: bare, env, encoding: "utf8" }),
  );
  assert(hasNative === false && code === "ERR_ZARR_NATIVE_UNAVAILABLE", `${hasNative} ${code}`);
  const platform = binaryPackage.slice(`${pkg.name}-`.length);
  for (const part of [platform, binaryPackage, "npm install", "Rust toolchain"]) {
    assert(message.includes(part), `message lacks '${part}': ${message}`);
  }
});

// --- a strict TypeScript consumer, module resolution NodeNext ----------------------
writeFileSync(
  join(project, "tsconfig.json"),
  `${JSON.stringify(
    {
      compilerOptions: {
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        strict: true,
        noEmit: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
      },
      include: ["*.ts", "*.cts"],
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  join(project, "consumer.ts"),
  `import { Blosc, HAS_NATIVE, NativeUnavailableError, type SaveResult, slice, ZarrSaver, ZarrSaverError } from "zarr-saver";

const saver = new ZarrSaver("out.zarr", { datasetName: "a", approach: "append" });
const result: SaveResult = await saver.save(new Float64Array(4), { chunks: [2], compressor: new Blosc({ cname: "zstd", clevel: 3 }) });
const shape: number[] = result.shape;
await new ZarrSaver("out.zarr", { datasetName: "a", approach: "update" }).save([1, 2], { indices: slice(0, 2) });
const err: unknown = new NativeUnavailableError("x");
if (err instanceof ZarrSaverError) console.log(err.code, HAS_NATIVE, shape);
// @ts-expect-error: the path is a string or a URL
new ZarrSaver(42);
`,
);
writeFileSync(
  join(project, "consumer-cjs.cts"),
  `import zs = require("zarr-saver");
const saver: zs.ZarrSaver = new zs.ZarrSaver("out.zarr");
export const pending: Promise<zs.SaveResult> = saver.save([1]);
`,
);
check("strict NodeNext TypeScript consumer type-checks (ESM and CommonJS)", () => {
  execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", project], {
    encoding: "utf8",
    env,
  });
});

if (process.argv.includes("--keep")) console.log(`consumer projects kept: ${cleanup.join(", ")}`);
else for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
console.log(`consumer: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed === 0 ? 0 : 1);
