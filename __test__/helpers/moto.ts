/**
 * A real S3 endpoint for tests: moto_server from the project venv, on a free port
 * of 127.0.0.1, in its own process group. `useMoto()` starts one in a beforeAll and
 * stops it (the whole group) in afterAll; an exit hook kills it if the run dies first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { venvPython } from "./python.js";

/** Credentials moto accepts when it does not check them. */
export const MOTO_KEY = "testing";
export const MOTO_SECRET = "testing";
export const MOTO_REGION = "us-east-1";

export interface MotoServer {
  endpoint: string;
  port: number;
  process: ChildProcess;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** A TCP port of 127.0.0.1 that was free a moment ago; nothing listens on it on return. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Signal `child`'s whole process group (servers are started detached, as group leaders). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM `child`'s group, SIGKILL after 5 s; resolves once it exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  killGroup(child, "SIGTERM");
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Servers still running: killed by the exit hook if the run dies before afterAll. */
export const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

async function startOnce(env: Record<string, string>): Promise<MotoServer> {
  const bin = join(dirname(venvPython()), "moto_server");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    detached: true, // its own process group: stop() kills moto and anything it forked
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    running.delete(child);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`moto_server exited (${child.exitCode ?? child.signalCode}) before answering:\n${log}`);
    }
    try {
      // The dashboard answers without counting as an S3 action (INITIAL_NO_AUTH_ACTION_COUNT).
      if (
        (
          await fetch(`${endpoint}/moto-api/`, {
            signal: AbortSignal.timeout(1_000),
          })
        ).ok
      )
        break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s:\n${log}`);
    }
    await sleep(100);
  }
  const createBucket = async (name: string): Promise<void> => {
    const res = await fetch(`${endpoint}/${name}`, { method: "PUT" });
    if (!res.ok) throw new Error(`creating bucket ${name}: HTTP ${res.status} ${await res.text()}`);
  };
  return { endpoint, port, process: child, createBucket, stop };
}

/** Start moto_server with extra `env`; retried when another process took the port first. */
export async function startMoto(env: Record<string, string> = {}): Promise<MotoServer> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(env);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/**
 * A moto_server for the enclosing file or describe block, with `buckets` created.
 * Returns a getter (the server exists once beforeAll ran).
 */
export function useMoto(options: { env?: Record<string, string>; buckets?: string[] } = {}): () => MotoServer {
  let server: MotoServer | undefined;
  beforeAll(async () => {
    server = await startMoto(options.env);
    for (const bucket of options.buckets ?? []) await server.createBucket(bucket);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error("moto_server is not running (use it inside tests)");
    return server;
  };
}
