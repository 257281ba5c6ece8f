import { defineConfig } from "vitest/config";

// Native addons and child processes: run test files in forked processes.
export default defineConfig({
  test: {
    include: ["__test__/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
