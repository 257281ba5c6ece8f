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
