/**
 * Azure Blob Storage (`az://`), against a real Azurite over HTTP on 127.0.0.1, read back
 * by zarr-python 3 through adlfs:
 *
 * - append / overwrite / update / saveSync round trips, Zarr v3 and v2, with no lease
 *   or stale chunk left behind;
 * - 3 processes x 10 appends to one dataset: every batch present once, whole (the lease
 *   and the metadata commit rest on Azure's ETag conditions);
 * - a rejected key and a missing container are StoreErrors without secrets;
 *   AZURE_* environment variables alone configure the store;
 * - a crashed writer's expired lease is taken over (a PUT with If-Match on its ETag), a
 *   live one is waited for.
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { describe, expect, it } from "vitest";
import { StoreError, ZarrSaver, type ZarrSaverOptions } from "../src/index.js";
import { runFixture } from "./helpers/child.js";
import { AZURITE_ACCOUNT, AZURITE_KEY, useAzurite } from "./helpers/emulators.js";
import {
  expectEveryBatchOnce,
  expectRoundTrip,
  type ReadBack,
  ROUND_TRIP_NAMES,
  writeRoundTrip,
} from "./helpers/object-roundtrip.js";
import { runPython } from "./helpers/python.js";

const CONTAINER = "ctr";
const azure = useAzurite({ containers: [CONTAINER] });

const storage = (extra: Record<string, unknown> = {}) => ({
  accountName: AZURITE_ACCOUNT,
  accessKey: AZURITE_KEY,
  endpoint: azure().endpoint,
  allowHttp: true,
  ...extra,
});

/** Read `names` under `container/root` in one zarr-python process (adlfs). */
function readAzure(root: string, names: string[]): Record<string, ReadBack> {
  const code = `
import json, os, sys, adlfs, zarr
cs, root, names = sys.argv[1], sys.argv[2], sys.argv[3:]
opts = dict(connection_string=cs)
store = zarr.storage.FsspecStore.from_url("abfs://" + root, storage_options=opts, read_only=True)
fs = adlfs.AzureBlobFileSystem(**opts)
out = {}
for n in names:
    a = zarr.open_array(store, path=n, mode="r")
    keys = sorted(k[len(root) + len(n) + 2:] for k in fs.find(f"{root}/{n}"))
    out[n] = dict(shape=list(a.shape), dtype=str(a.dtype), format=a.metadata.zarr_format, values=a[...].tolist(), keys=keys)
print(json.dumps(out), flush=True)
os._exit(0)  # adlfs's exit hooks need an event loop that is gone by then, and say so on stderr
`;
  return runPython<Record<string, ReadBack>>(code, [azure().connectionString, `${CONTAINER}/${root}`, ...names]);
}

describe.each([3, 2] as const)("az:// round trips, Zarr v%i", (zarrFormat) => {
  it("append, overwrite, update and saveSync read back equal in zarr-python (adlfs)", async () => {
    const root = `roundtrip-v${zarrFormat}.zarr`;
    const saver = (datasetName: string, options: ZarrSaverOptions = {}) =>
      new ZarrSaver(`az://${CONTAINER}/${root}`, { datasetName, storageOptions: storage(), ...options });
    await writeRoundTrip(saver, zarrFormat);
    expectRoundTrip(readAzure(root, ROUND_TRIP_NAMES), zarrFormat);
  });
});

describe("az:// many writers", () => {
  it("3 processes x 10 appends to one dataset keep every batch once and whole", async () => {
    const [writers, batches] = [3, 10];
    const env = { ...process.env, ZARR_SAVER_TEST_STORAGE: JSON.stringify(storage()) };
    const url = `az://${CONTAINER}/writers.zarr`;
    const runs = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        runFixture("s3-append-writer.mjs", [url, "log", String(w), String(batches)], env),
      ),
    );
    for (const run of runs) expect(run, run.err).toMatchObject({ code: 0, out: "done\n" });
    expectEveryBatchOnce(readAzure("writers.zarr", ["log"]).log as ReadBack, writers, batches);
  });
});

// A well-formed account key (Azure keys are base64) that Azurite does not know.
const SECRET = Buffer.from("wJalrXUtnFEMI-K7MDENG-secretSECRET-azure-key-0123456789").toString("base64");

async function expectStoreError(run: () => Promise<unknown>): Promise<StoreError> {
  const err = await run().then(
    () => expect.unreachable("the save succeeded"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  const e = err as StoreError;
  expect(e.code).toBe("ERR_ZARR_STORE");
  for (const text of [e.message, String(e.stack)]) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(AZURITE_KEY);
  }
  return e;
}

/** This process's environment without AZURE_* variables, plus a complete AZURE_* configuration. */
function azureEnv(key: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AZURE_")));
  return {
    ...env,
    AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
    AZURE_STORAGE_ACCOUNT_KEY: key,
    AZURE_STORAGE_ENDPOINT: azure().endpoint,
    AZURE_ALLOW_HTTP: "true",
  };
}

describe("az:// errors", () => {
  it("a rejected account key is a StoreError without secrets", async () => {
    const s = new ZarrSaver(`az://${CONTAINER}/c.zarr`, { storageOptions: storage({ accessKey: SECRET }) });
    const e = await expectStoreError(() => s.save([1, 2, 3]));
    expect(e.message).toMatch(/403|AuthorizationFailure|AuthenticationFailed|Forbidden/i);
  });

  it("a missing container is a StoreError without secrets", async () => {
    const s = new ZarrSaver("az://no-such-container/c.zarr", { storageOptions: storage() });
    const e = await expectStoreError(() => s.save([1, 2, 3]));
    expect(e.message).toMatch(/ContainerNotFound|not found|404/i);
  });

  it("AZURE_* environment variables alone configure the store", async () => {
    const run = await runFixture("s3-env-writer.mjs", [`az://${CONTAINER}/env.zarr`, "env"], azureEnv(AZURITE_KEY));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ result: { shape: [3], dtype: "float64", region: [[0, 3]], created: true } });
    expect((readAzure("env.zarr", ["env"]).env as ReadBack).values).toEqual([1.5, 2.5, 3.5]);
  });

  it("a key from the environment is the one sent", async () => {
    const run = await runFixture("s3-env-writer.mjs", [`az://${CONTAINER}/env.zarr`, "env2"], azureEnv(SECRET));
    expect(run.code, run.err).toBe(0);
    const { error } = JSON.parse(run.out) as { error: { name: string; code: string; message: string } };
    expect(error).toMatchObject({ name: "StoreError", code: "ERR_ZARR_STORE" });
    expect(error.message).toMatch(/403|AuthorizationFailure|AuthenticationFailed|Forbidden/i);
    expect(error.message).not.toContain(SECRET);
  });
});

/** Blob `name` of the container: its body, or null when absent (Azure SDK in the venv). */
function blob(name: string, body?: string): string | null {
  const code = `
import json, sys
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
cs, container, name = sys.argv[1:4]
client = BlobServiceClient.from_connection_string(cs).get_blob_client(container, name)
if len(sys.argv) > 4:
    client.upload_blob(sys.argv[4].encode(), overwrite=True)
try:
    print(json.dumps(client.download_blob().readall().decode()))
except ResourceNotFoundError:
    print(json.dumps(None))
`;
  return runPython<string | null>(code, [azure().connectionString, CONTAINER, name, ...(body === undefined ? [] : [body])]);
}

describe("az:// writer leases", () => {
  const lease = (dataset: string) => `lease.zarr/${dataset}/.zarr-saver-lease`;
  const saver = (dataset: string) =>
    new ZarrSaver(`az://${CONTAINER}/lease.zarr`, { datasetName: dataset, storageOptions: storage() });

  it("a crashed writer's expired lease does not block a save, and is released after", async () => {
    const s = saver("stale");
    await s.save([1, 2]);
    blob(lease("stale"), JSON.stringify({ owner: "dead", expires_ms: Date.now() - 1000 }));
    const started = Date.now();
    expect((await s.save([3])).shape).toEqual([3]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(blob(lease("stale"))).toBeNull();
    expect((readAzure("lease.zarr", ["stale"]).stale as ReadBack).values).toEqual([1, 2, 3]);
  });

  it("a live lease is waited for, then taken over when it expires", async () => {
    const s = saver("live");
    await s.save([1, 2]);
    const expires = Date.now() + 4000;
    blob(lease("live"), JSON.stringify({ owner: "other", expires_ms: expires }));
    expect((await s.save([3])).shape).toEqual([3]);
    // Measured from the lease's own expiry, not from when planting it returned (the
    // helper that plants it may take most of its 4 s).
    const done = Date.now();
    expect(done).toBeGreaterThanOrEqual(expires);
    expect(done - expires).toBeLessThan(8_000);
    expect(blob(lease("live"))).toBeNull();
  });
});
