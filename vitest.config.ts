import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// Native addons and child processes: run test files in forked processes. Most files
// wait on servers and child processes more than they compute, so two run at once
// even on two cores (vitest's default there is one): the suite takes half the time.
export default defineConfig({
  test: {
    include: ["__test__/**/*.test.ts"],
    pool: "forks",
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
