#!/usr/bin/env node
/**
 * The package's command: `zarr-saver worker --connection redis://host:port
 * --queue NAME [--concurrency N] [--lock-duration MS] [--prefix P]` serves the
 * jobs of distributed TaskManager runs until SIGTERM or SIGINT, then finishes
 * the running jobs and exits 0. `zarr-saver --help` and `zarr-saver worker --help`
 * print usage on stdout and exit 0.
 */
import { parseArgs } from "node:util";
import { startWorker } from "./pipeline/queue-worker.js";

const USAGE =
  "usage: zarr-saver worker --connection redis://host:port --queue NAME [--concurrency N] [--lock-duration MS] [--prefix PREFIX]";

const HELP = `${USAGE}

Commands:
  worker   serve the jobs of distributed TaskManager runs (needs the optional dependency bullmq)

Run 'zarr-saver worker --help' for the worker's options.
`;

const WORKER_HELP = `${USAGE}

Serves the jobs of distributed TaskManager runs queued under NAME on a Redis (or Valkey)
server until SIGTERM or SIGINT, then finishes the running jobs and exits 0.

Options:
  --connection URL     the Redis server, redis://[user:password@]host:port[/db] (required)
  --queue NAME         the queue the submitter names (required)
  --concurrency N      jobs computed at once, each in a worker thread (default: the machine's parallelism)
  --lock-duration MS   milliseconds a job stays locked without a renewal before another worker
                       takes it over (default: 30000)
  --prefix PREFIX      BullMQ's key prefix, if the submitter set one (default: bull)
  -h, --help           print this help and exit
`;

const isHelp = (arg: string | undefined): boolean => arg === "--help" || arg === "-h" || arg === "help";

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--${flag} must be a positive integer; got '${value}'`);
  return Number(value);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (isHelp(command)) {
    process.stdout.write(HELP);
    return;
  }
  if (command !== "worker") {
    process.stderr.write(`${command === undefined ? "" : `unknown command '${command}'\n`}${USAGE}\n`);
    process.exit(2);
  }
  if (rest.some((arg) => arg === "--help" || arg === "-h")) {
    process.stdout.write(WORKER_HELP);
    return;
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
