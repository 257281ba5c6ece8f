#!/usr/bin/env node
/**
 * The package's command: `zarr-saver worker --connection redis://host:port
 * --queue NAME [--concurrency N] [--lock-duration MS] [--prefix P]` serves the
 * jobs of distributed TaskManager runs until SIGTERM or SIGINT, then finishes
 * the running jobs and exits 0.
 */
import { parseArgs } from "node:util";
import { startWorker } from "./pipeline/queue-worker.js";

const USAGE =
  "usage: zarr-saver worker --connection redis://host:port --queue NAME [--concurrency N] [--lock-duration MS] [--prefix PREFIX]";

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--${flag} must be a positive integer; got '${value}'`);
  return Number(value);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== "worker") {
    process.stderr.write(`${command === undefined ? "" : `unknown command '${command}'\n`}${USAGE}\n`);
    process.exit(command === "--help" || command === "-h" ? 0 : 2);
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      connection: { type: "string" },
      queue: { type: "string" },
      concurrency: { type: "string" },
      "lock-duration": { type: "string" },
      prefix: { type: "string" },
    },
    strict: true,
  });
  if (values.connection === undefined || values.queue === undefined)
    throw new Error(`--connection and --queue are required\n${USAGE}`);
  const concurrency = integer("concurrency", values.concurrency);
  const lockDuration = integer("lock-duration", values["lock-duration"]);
  const worker = startWorker({
    connection: values.connection,
    name: values.queue,
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(lockDuration !== undefined ? { lockDuration } : {}),
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("zarr-saver worker: finishing running jobs\n");
    worker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`zarr-saver worker: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await worker.ready;
  // Announced once the signals are handled: whoever waits for this line may stop the worker at once.
  process.stderr.write(`zarr-saver worker: serving queue '${values.queue}' (pid ${process.pid})\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`zarr-saver: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
