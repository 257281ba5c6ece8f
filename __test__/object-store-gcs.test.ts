/**
 * Google Cloud Storage (`gs://`): which credentials the client uses, and when it may ask
 * the cloud metadata server for a token.
 *
 * - Each save runs in a child inside a network namespace with only loopback (`unshare
 *   -n`, root), so no request can leave the machine; the cloud metadata address is added
 *   to that loopback with a listener that never answers (fixtures/gcs-credentials.mjs).
 *   With `skipSignature`, with a `baseUrl` alone, with a bearer token, with a
 *   service-account key and with GOOGLE_* variables, the requests go to the given
 *   endpoint carrying the expected credential and the metadata address is never dialled.
 *   With nothing at all, the save fails within a bounded time with a StoreError naming
 *   every credential source it looked at. A refused token or key is a StoreError
 *   without the secret. Icechunk repositories (`icechunk: {}`), whose GCS client is
 *   Icechunk's, follow the same rules and run the same tests.
 *
 * On a real fake-gcs-server behind the XML API test gateway (helpers/gcs-gateway.ts:
 * object_store writes through the GCS XML API, whose uploads fake-gcs-server does not
 * take), every client given the 127.0.0.1 endpoint and a bearer token, which the
 * gateway requires:
 *
 * - append / overwrite / update / saveSync round trips, Zarr v3 and v2, read back by
 *   zarr-python 3 through gcsfs (straight at fake-gcs-server's JSON API), with no lease
 *   or stale chunk left behind; a GroupSaver group with its consolidated copy;
 * - 3 processes x 10 appends to one dataset: every batch present once, whole (the lease
 *   and the metadata commit rest on x-goog-if-generation-match preconditions);
 * - a crashed writer's expired lease is taken over, a live one is waited for;
 * - a refused token and a missing bucket are StoreErrors without secrets; GOOGLE_*
 *   variables alone configure the store.
 *
 * Nothing here needs more than loopback: the whole file also passes inside `unshare -n`
 * (`unshare -n sh -c 'ip link set lo up && exec npx vitest run <this file>'`).
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GroupSaver, StoreError, ZarrSaver, type ZarrSaverOptions } from "../src/index.js";
import { runCommand, runFixture } from "./helpers/child.js";
import { useFakeGcs } from "./helpers/emulators.js";
import {
  expectEveryBatchOnce,
  expectRoundTrip,
  type ReadBack,
  ROUND_TRIP_NAMES,
  rows,
  writeRoundTrip,
} from "./helpers/object-roundtrip.js";
import { runPython } from "./helpers/python.js";
import { tempDir } from "./helpers/tmp.js";

const ROOT = join(import.meta.dirname, "..");
const SECRET = "ya29.secret-bearer-TOKEN-0123456789";

/** Whether this process may make a network namespace (root, and a kernel that allows it). */
function canUnshare(): boolean {
  try {
    execFileSync("unshare", ["-n", "sh", "-c", "ip link set lo up"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

interface Outcome {
  result?: unknown;
  error?: { name: string; code: string; message: string; stack: string };
  elapsedMs: number;
  requests: { method: string; path: string; authorization: string | null }[];
  metadataConnections: number;
  metadataListening: boolean;
  endpoint: string;
}

/** This environment without anything the GCS client would read, HOME pointing at an empty directory. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(GOOGLE_|GCE_METADATA_|SERVICE_ACCOUNT$)/.test(k)),
  );
  return { ...env, HOME: tempDir("zarr-saver-home-"), ...extra };
}

/** One save of fixtures/gcs-credentials.mjs inside a loopback-only network namespace (`icechunk`: into a repository). */
async function saveIn(storageOptions: Record<string, unknown>, env = bareEnv(), icechunk = false): Promise<Outcome> {
  const fixture = join(ROOT, "__test__", "fixtures", "gcs-credentials.mjs");
  const setUp = 'ip link set lo up && ip addr add 169.254.169.254/32 dev lo && exec "$0" "$@"';
  const run = await runCommand(
    "unshare",
    ["-n", "sh", "-c", setUp, process.execPath, fixture, JSON.stringify(storageOptions), ...(icechunk ? ["icechunk"] : [])],
    env,
  );
  expect(run.code, run.err).toBe(0);
  const outcome = JSON.parse(run.out) as Outcome;
  expect(outcome.metadataListening, "the metadata address is on the namespace's loopback").toBe(true);
  return outcome;
}

/** The save reached the endpoint, was refused there (401), and nothing dialled the metadata address. */
function expectRefusedAtEndpoint(outcome: Outcome, secrets: string[] = []): string[] {
  expect(outcome.metadataConnections, "connections to the metadata address").toBe(0);
  expect(outcome.requests.length).toBeGreaterThan(0);
  // object_store percent-encodes the whole object name, "/" and "." included
  expect(decodeURIComponent(outcome.requests[0]?.path ?? "")).toMatch(/^\/bkt\/c\.zarr\//);
  expect(outcome.error).toMatchObject({ name: "StoreError", code: "ERR_ZARR_STORE" });
  const { message, stack } = outcome.error as { message: string; stack: string };
  expect(message).toMatch(/401|Unauthorized/);
  for (const secret of secrets) {
    expect(message).not.toContain(secret);
    expect(stack).not.toContain(secret);
  }
  return outcome.requests.map((r) => r.authorization ?? "");
}

// CI runs as root and must run these; elsewhere they need root (or a user namespace).
const isolated = canUnshare() || process.env.CI === "true";

describe.runIf(isolated).each([
  { target: "a plain store", icechunk: false },
  { target: "an Icechunk repository", icechunk: true },
])("gs:// credentials of $target, in a loopback-only network namespace", ({ icechunk }) => {
  const saveIsolated = async (storageOptions: Record<string, unknown>, env = bareEnv()) => {
    const outcome = await saveIn(storageOptions, env, icechunk);
    // Icechunk's client asks for the repository's info file and its branch first
    const paths = outcome.requests.map((r) => decodeURIComponent(r.path));
    if (icechunk && paths.length > 0) expect(paths[0]).toMatch(/^\/bkt\/c\.zarr\/(repo|refs\/branch\.main\/ref\.json)$/);
    return outcome;
  };

  it("skipSignature with a baseUrl sends no token and never dials the metadata server", async () => {
    const auth = expectRefusedAtEndpoint(await saveIsolated({ baseUrl: "{endpoint}", skipSignature: true, allowHttp: true }));
    for (const a of auth) expect(a.trim()).toBe(a === "" ? "" : "Bearer");
  });

  it("a baseUrl without credentials (an emulator) sends no token and never dials the metadata server", async () => {
    const auth = expectRefusedAtEndpoint(await saveIsolated({ baseUrl: "{endpoint}", allowHttp: true }));
    for (const a of auth) expect(a.trim()).toBe(a === "" ? "" : "Bearer");
  });

  it("a bearer token is sent as given; refused, it is a StoreError without the token", async () => {
    const auth = expectRefusedAtEndpoint(await saveIsolated({ baseUrl: "{endpoint}", bearerToken: SECRET, allowHttp: true }), [
      SECRET,
    ]);
    for (const a of auth) expect(a).toBe(`Bearer ${SECRET}`);
  });

  it("a service-account key signs the token; refused, it is a StoreError without the key", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const email = "writer@project.iam.gserviceaccount.com";
    const key = JSON.stringify({
      type: "service_account",
      private_key: privateKey,
      private_key_id: "key-1",
      client_email: email,
    });
    const keyBody = privateKey.split("\n")[5] as string; // a line of the key's base64
    const auth = expectRefusedAtEndpoint(await saveIsolated({ baseUrl: "{endpoint}", serviceAccountKey: key, allowHttp: true }), [
      keyBody,
    ]);
    // A JWT signed with the key, issued by the service account
    const [header, claims, signature] = (auth[0] as string).replace(/^Bearer /, "").split(".") as [string, string, string];
    const signed = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${claims}`),
      createPublicKey(publicKey),
      Buffer.from(signature, "base64url"),
    );
    expect(signed, "the token's signature checks with the service account's public key").toBe(true);
    expect(JSON.parse(Buffer.from(claims, "base64url").toString())).toMatchObject({ iss: email });
  });

  it("GOOGLE_* environment variables alone configure the client", async () => {
    const env = bareEnv({ GOOGLE_BASE_URL: "{endpoint}", GOOGLE_BEARER_TOKEN: SECRET, GOOGLE_ALLOW_HTTP: "true" });
    const auth = expectRefusedAtEndpoint(await saveIsolated({}, env), [SECRET]);
    for (const a of auth) expect(a).toBe(`Bearer ${SECRET}`);
  });

  it("with no credentials at all, a metadata server that hangs fails the save in bounded time, naming the sources tried", async () => {
    // The metadata server named by its address: the client first tries the name
    // metadata.google.internal, with retries, and on a loaded machine those could use up
    // the 5 s before it dialled the address.
    const outcome = await saveIsolated({}, bareEnv({ GCE_METADATA_HOST: "169.254.169.254" }));
    expect(outcome.error).toMatchObject({ name: "StoreError", code: "ERR_ZARR_STORE" });
    expect(outcome.metadataConnections, "the metadata server is the last resort").toBeGreaterThan(0);
    expect(outcome.requests).toEqual([]);
    expect(outcome.elapsedMs).toBeLessThan(15_000);
    const message = outcome.error?.message as string;
    for (const source of ["storageOptions", "GOOGLE_", "application-default", "metadata server"]) {
      expect(message).toContain(source);
    }
  });
});

describe("gs:// on fake-gcs-server", () => {
  const BUCKET = "bkt";
  // The gateway takes this token and no other, as GCS takes only a valid one.
  const TOKEN = "ya29.gateway-test-token";
  const gcs = useFakeGcs({ buckets: [BUCKET], bearerToken: TOKEN });
  const storage = (extra: Record<string, unknown> = {}) => ({
    baseUrl: gcs().baseUrl,
    bearerToken: TOKEN,
    allowHttp: true,
    ...extra,
  });
  /** The environment of a writer process: nothing GOOGLE_* but what the test sets. */
  const writerEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => bareEnv(extra);

  /** Read `names` under `bucket/root` in one zarr-python process (gcsfs at fake-gcs-server's JSON API). */
  function readGcs(root: string, names: string[]): Record<string, ReadBack> {
    const code = `
import json, os, sys
# gcsfs would first ask an emulator over gRPC and TLS what kind of bucket it is (a minute's timeout)
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
import gcsfs, zarr
endpoint, root, names = sys.argv[1], sys.argv[2], sys.argv[3:]
opts = dict(endpoint_url=endpoint, token="anon")
store = zarr.storage.FsspecStore.from_url("gs://" + root, storage_options=opts, read_only=True)
fs = gcsfs.GCSFileSystem(**opts)
out = {}
for n in names:
    a = zarr.open_array(store, path=n, mode="r")
    keys = sorted(k[len(root) + len(n) + 2:] for k in fs.find(f"{root}/{n}"))
    out[n] = dict(shape=list(a.shape), dtype=str(a.dtype), format=a.metadata.zarr_format, values=a[...].tolist(), keys=keys)
print(json.dumps(out), flush=True)
os._exit(0)  # gcsfs's exit hooks need an event loop that is gone by then, and say so on stderr
`;
    return runPython<Record<string, ReadBack>>(code, [gcs().endpoint, `${BUCKET}/${root}`, ...names]);
  }

  /** An object's JSON API URL on fake-gcs-server. */
  const objectUrl = (key: string) => `${gcs().endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent(key)}`;

  describe.each([3, 2] as const)("round trips, Zarr v%i", (zarrFormat) => {
    it("append, overwrite, update and saveSync read back equal in zarr-python (gcsfs)", async () => {
      const root = `roundtrip-v${zarrFormat}.zarr`;
      const saver = (datasetName: string, options: ZarrSaverOptions = {}) =>
        new ZarrSaver(`gs://${BUCKET}/${root}`, { datasetName, storageOptions: storage(), ...options });
      await writeRoundTrip(saver, zarrFormat);
      expectRoundTrip(readGcs(root, ROUND_TRIP_NAMES), zarrFormat);
    });
  });

  it("GroupSaver creates a consolidated group, appends every array together, and zarr-python reads it", async () => {
    const root = "group.zarr";
    const ds = new GroupSaver(`gs://${BUCKET}/${root}`, { group: "run", storageOptions: storage() });
    await ds.save({ temp: rows(2, 3, (r, c) => r * 10 + c), time: new BigInt64Array([1n, 2n]) });
    const more = await ds.save({ temp: rows(1, 3, (_, c) => 20 + c), time: new BigInt64Array([3n]) });
    expect(more.temp).toMatchObject({ shape: [3, 3], created: false });
    const read = readGcs(root, ["run/temp", "run/time"]);
    expect(read["run/temp"]?.values).toEqual([
      [0, 1, 2],
      [10, 11, 12],
      [20, 21, 22],
    ]);
    expect(read["run/time"]?.values).toEqual([1, 2, 3]);
    expect(read["run/time"]?.keys.filter((k) => k.includes(".zarr-saver"))).toEqual([]);
    // The root's consolidated copy, where xarray reads it, lists the new shapes.
    const rootMeta = (await (await fetch(`${objectUrl(`${root}/zarr.json`)}?alt=media`)).json()) as {
      consolidated_metadata: { metadata: Record<string, { shape?: number[] }> };
    };
    const listed = Object.fromEntries(Object.entries(rootMeta.consolidated_metadata.metadata).map(([k, v]) => [k, v.shape]));
    expect(listed).toMatchObject({ "run/temp": [3, 3], "run/time": [3] });
  });

  it("3 processes x 10 appends to one dataset keep every batch once and whole", async () => {
    const [writers, batches] = [3, 10];
    const env = writerEnv({ ZARR_SAVER_TEST_STORAGE: JSON.stringify(storage()) });
    const url = `gs://${BUCKET}/writers.zarr`;
    const refusedBefore = gcs().gateway.counts.get("put 412") ?? 0;
    const runs = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        runFixture("s3-append-writer.mjs", [url, "log", String(w), String(batches)], env),
      ),
    );
    for (const run of runs) expect(run, run.err).toMatchObject({ code: 0, out: "done\n" });
    expectEveryBatchOnce(readGcs("writers.zarr", ["log"]).log as ReadBack, writers, batches);
    const refused = (gcs().gateway.counts.get("put 412") ?? 0) - refusedBefore;
    console.log(`gs:// writers: ${refused} conditional PUTs refused (412) and retried`);
  });

  describe("writer leases", () => {
    const lease = (dataset: string) => `lease.zarr/${dataset}/.zarr-saver-lease`;
    const saver = (dataset: string) =>
      new ZarrSaver(`gs://${BUCKET}/lease.zarr`, { datasetName: dataset, storageOptions: storage() });
    /** Put a lease object as another writer would (through the gateway, with the token). */
    const plantLease = async (dataset: string, owner: string, expiresMs: number) => {
      const res = await fetch(`${gcs().baseUrl}/${BUCKET}/${encodeURIComponent(lease(dataset))}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ owner, expires_ms: expiresMs }),
      });
      expect(res.status).toBe(200);
    };
    const leaseStatus = async (dataset: string) => (await fetch(objectUrl(lease(dataset)))).status;

    it("a crashed writer's expired lease does not block a save, and is released after", async () => {
      const s = saver("stale");
      await s.save([1, 2]);
      await plantLease("stale", "dead", Date.now() - 1000);
      const started = Date.now();
      expect((await s.save([3])).shape).toEqual([3]);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await leaseStatus("stale")).toBe(404);
      expect((readGcs("lease.zarr", ["stale"]).stale as ReadBack).values).toEqual([1, 2, 3]);
    });

    it("a live lease is waited for, then taken over when it expires", async () => {
      const s = saver("live");
      await s.save([1, 2]);
      await plantLease("live", "other", Date.now() + 4000);
      const started = Date.now();
      expect((await s.save([3])).shape).toEqual([3]);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(1000);
      expect(waited).toBeLessThan(12_000);
      expect(await leaseStatus("live")).toBe(404);
      expect((readGcs("lease.zarr", ["live"]).live as ReadBack).values).toEqual([1, 2, 3]);
    });
  });

  describe("errors", () => {
    /** `run` fails with a StoreError whose message and stack hold neither token. */
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
        expect(text).not.toContain(TOKEN);
      }
      return e;
    }

    it("a refused bearer token is a StoreError without secrets, and nothing is written", async () => {
      const s = new ZarrSaver(`gs://${BUCKET}/refused.zarr`, { storageOptions: storage({ bearerToken: SECRET }) });
      const e = await expectStoreError(() => s.save([1, 2, 3]));
      expect(e.message).toMatch(/401|Unauthorized|Invalid Credentials/i);
      const listed = await (await fetch(`${gcs().endpoint}/storage/v1/b/${BUCKET}/o?prefix=refused.zarr/`)).json();
      expect((listed as { items?: unknown[] }).items ?? []).toEqual([]);
    });

    it("a missing bucket is a StoreError without secrets", async () => {
      const s = new ZarrSaver("gs://no-such-bucket/c.zarr", { storageOptions: storage() });
      const e = await expectStoreError(() => s.save([1, 2, 3]));
      expect(e.message).toMatch(/not found|404/i);
    });

    it("GOOGLE_* environment variables alone configure the store", async () => {
      const env = writerEnv({ GOOGLE_BASE_URL: gcs().baseUrl, GOOGLE_BEARER_TOKEN: TOKEN, GOOGLE_ALLOW_HTTP: "true" });
      const run = await runFixture("s3-env-writer.mjs", [`gs://${BUCKET}/env.zarr`, "env"], env);
      expect(run.code, run.err).toBe(0);
      expect(JSON.parse(run.out)).toEqual({ result: { shape: [3], dtype: "float64", region: [[0, 3]], created: true } });
      expect((readGcs("env.zarr", ["env"]).env as ReadBack).values).toEqual([1.5, 2.5, 3.5]);
    });
  });
});
