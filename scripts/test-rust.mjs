// The Rust tests of the core (`npm run test:rust`), built with the profile, features and
// explicit host target that `napi build --platform` gives the addon, so they reuse the
// dependency graph `npm install` compiled instead of compiling it again. Extra
// arguments go to `cargo test` (a test name filter, `-- --nocapture`).
import { execFileSync, spawnSync } from "node:child_process";

const host = /^host: (.+)$/m.exec(execFileSync("rustc", ["-vV"], { encoding: "utf8" }))?.[1];
if (host === undefined) throw new Error("rustc -vV printed no host triple");
const args = ["test", "-p", "zarr-saver-core", "--profile", "local", "--target", host, ...process.argv.slice(2)];
const run = spawnSync("cargo", args, { stdio: "inherit" });
process.exit(run.status ?? 1);
