/**
 * A real Redis server for tests, and real queue worker processes started with the
 * package's bin (dist/cli.mjs). The server runs on a free port of 127.0.0.1 without
 * persistence, in its own process group; an exit hook kills servers and workers if
 * the run dies first.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createConnection } from "node:net";
import { join } from "node:path";
import { freePort, killGroup, running, stopChild } from "./moto.js";

const ROOT = join(import.meta.dirname, "..", "..");
/** The package's bin, as `npm install` builds it. */
export const CLI = join(ROOT, "dist", "cli.mjs");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** Run a redis-cli command against it; returns its output. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(1_000);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Start redis-server on a free port; `port` to restart one where it was. */
export async function startRedis(port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn("redis-server", ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 20_000;
  while (!(await answers(p))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      killGroup(child, "SIGKILL");
      throw new Error(`redis-server on port ${p} did not start:\n${log}`);
    }
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${p}`,
    port: p,
    process: child,
    cli: (...args) => execFileSync("redis-cli", ["-p", String(p), ...args], { encoding: "utf8" }),
    stop: () => stopChild(child),
  };
}

export interface WorkerProcess {
  process: ChildProcess;
  /** Its stderr so far. */
  log(): string;
  /** Resolves with the exit code (or signal name) once it exited. */
  exited: Promise<number | string>;
}

/** `zarr-saver worker --connection URL --queue NAME ...` as a real process; resolves once it serves the queue. */
export async function startWorkerProcess(
  url: string,
  queue: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, "worker", "--connection", url, "--queue", queue, ...extra], {
    detached: true, // its own process group, like the servers: the exit hook kills it whole
    stdio: ["ignore", "ignore", "pipe"],
    env,
  });
  running.add(child);
  let log = "";
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? "?");
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("serving queue")) resolve();
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before serving:\n${log}`)));
  });
  await ready;
  return { process: child, log: () => log, exited };
}
