import { defineConfig } from "tsup";

// ESM for `import`, CommonJS for `require`, one .d.ts each.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  shims: true,
  clean: true,
  target: "node20",
  outDir: "dist",
});
