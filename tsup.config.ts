import { defineConfig } from "tsup";

export default defineConfig([
  // The package: ESM for `import`, CommonJS for `require`, one .d.ts each.
  {
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    // Members marked @internal (a saver's destination, read by the pipeline) stay out of the published types.
    dts: { compilerOptions: { stripInternal: true } },
    shims: true,
    // Both builds write to dist/ at once: this one's clean must leave the worker's output alone.
    clean: ["!worker.mjs", "!cli.mjs"],
    target: "node20",
    outDir: "dist",
  },
  // The package's command (`zarr-saver worker ...`), beside worker.mjs, which its worker threads start.
  {
    entry: { cli: "src/cli.ts" },
    format: ["esm"],
    outExtension: () => ({ js: ".mjs" }),
    shims: true,
    target: "node20",
    outDir: "dist",
  },
  // The pipeline's worker thread program, started by both bundles from beside them (src/pipeline/worker-entry.ts).
  // ESM only: a worker thread loads it on its own, whichever format its parent was loaded as.
  {
    entry: { worker: "src/pipeline/worker.ts" },
    format: ["esm"],
    outExtension: () => ({ js: ".mjs" }),
    target: "node20",
    outDir: "dist",
  },
]);
