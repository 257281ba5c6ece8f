/**
 * Where the worker thread's program is. The package build bundles this module
 * into `dist/index.js` and `dist/index.cjs` and builds worker.ts to
 * `dist/worker.mjs` beside them, so the URL is resolved against the bundle that
 * runs (the CommonJS bundle's `import.meta.url` is derived from its file name).
 * `.mjs` keeps the worker ESM whatever the package's `type` says.
 *
 * A module of its own so that the tests, which run the package from its
 * TypeScript sources where there is no built worker beside this file, can
 * point it at the built one.
 */
export const WORKER_URL: URL = new URL("./worker.mjs", import.meta.url);
