import { readFileSync } from "node:fs";

/** Print the script's leading doc comment as its usage, and exit. */
export function printUsage(scriptUrl) {
  console.log(
    readFileSync(new URL(scriptUrl), "utf8")
      .split("*/")[0]
      .replace(/^#!.*\n\/\*\*?/, ""),
  );
  process.exit(0);
}

/** Run a script's `main()`: its resolved value is the exit code; a throw prints and exits 1. */
export function runMain(main) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
