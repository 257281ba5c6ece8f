// `npm run build:windows`: cross-build the addon for x86_64-pc-windows-gnu and the
// core's Rust tests as Windows programs (so that everything the Windows tests run is
// compiled here, and CI can compile it in the background), and lay out
// target/windows/pkg, the folder the Windows tests load the addon from (loader, facade
// and the addon under the name the msvc-built node.exe looks for). Installs nothing:
// scripts/windows/setup.sh does.
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  ADDON_NAME,
  CARGO_DIR,
  cargo,
  FEATURES,
  fail,
  PROFILE,
  ROOT,
  RUST_TESTS,
  requireTools,
  TARGET,
  TEST_PKG,
} from "./env.mjs";

requireTools();
const started = Date.now();
cargo(["build", "-p", "zarr-saver-binding", "--profile", PROFILE, "--target", TARGET, ...FEATURES]);
cargo([...RUST_TESTS, "--no-run"]);
const dll = join(CARGO_DIR, TARGET, PROFILE, "zarr_saver_binding.dll");
if (!existsSync(dll)) fail(`the build left no ${dll}`);

if (!existsSync(join(ROOT, "dist", "index.js"))) fail("no dist/: run npm run build:ts first");
rmSync(TEST_PKG, { recursive: true, force: true });
mkdirSync(TEST_PKG, { recursive: true });
for (const file of ["package.json", "index.cjs", "dist"]) {
  cpSync(join(ROOT, file), join(TEST_PKG, file), { recursive: true });
}
cpSync(dll, join(TEST_PKG, ADDON_NAME));
console.log(`windows: ${join(TEST_PKG, ADDON_NAME)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
