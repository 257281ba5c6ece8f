/**
 * Object stores, against a real moto_server over HTTP on 127.0.0.1:
 *
 * - append / overwrite / update / saveSync round trips, Zarr v3 and v2, read back
 *   equal by zarr-python 3 over S3 (s3fs), with no lease or stale chunk left behind;
 * - 4 processes x 25 appends to one S3 dataset: every batch present once, whole;
 * - failures (missing bucket, closed port, rejected credentials) are StoreErrors
 *   without secrets; http(s) targets and unknown storageOptions are refused;
 *   AWS_* environment variables alone configure the store;
 * - a crashed writer's expired lease is taken over, a live one is waited for;
 * - a GroupSaver writer killed 20 times mid-append: readers of the consolidated copy
 *   see every array at one length, and the next writer finishes a recorded commit.
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  GroupSaver,
  InvalidArgumentError,
  type SaveOptions,
  StoreError,
  slice,
  ZarrSaver,
  type ZarrSaverOptions,
} from "../src/index.js";
import { freePort, MOTO_KEY, MOTO_REGION, MOTO_SECRET, useMoto } from "./helpers/moto.js";
import { mulberry32 } from "./helpers/prng.js";
import { runPython } from "./helpers/python.js";

const ROOT = join(import.meta.dirname, "..");
const BUCKET = "bkt";
const s3 = useMoto({ buckets: [BUCKET] });

const storage = (endpoint = s3().endpoint, extra: Record<string, unknown> = {}) => ({
  endpoint,
  region: MOTO_REGION,
  accessKeyId: MOTO_KEY,
  secretAccessKey: MOTO_SECRET,
  allowHttp: true,
  ...extra,
});
const saver = (container: string, datasetName: string, options: ZarrSaverOptions = {}): ZarrSaver =>
  new ZarrSaver(`s3://${BUCKET}/${container}`, { datasetName, storageOptions: storage(), ...options });

interface Read {
  shape: number[];
  dtype: string;
  format: number;
  values: unknown;
  keys: string[];
}

/** Read `names` in one zarr-python process: metadata, values, and the object keys under each. */
function readS3(container: string, names: string[]): Record<string, Read> {
  const code = `
import json, sys, s3fs, zarr
endpoint, root, names = sys.argv[1], sys.argv[2], sys.argv[3:]
opts = dict(endpoint_url=endpoint, key="${MOTO_KEY}", secret="${MOTO_SECRET}")
store = zarr.storage.FsspecStore.from_url("s3://" + root, storage_options=opts, read_only=True)
fs = s3fs.S3FileSystem(**opts)
out = {}
for n in names:
    a = zarr.open_array(store, path=n, mode="r")
    keys = sorted(k[len(root) + len(n) + 2:] for k in fs.find(f"{root}/{n}"))
    out[n] = dict(shape=list(a.shape), dtype=str(a.dtype), format=a.metadata.zarr_format, values=a[...].tolist(), keys=keys)
print(json.dumps(out))
`;
  return runPython<Record<string, Read>>(code, [s3().endpoint, `${BUCKET}/${container}`, ...names]);
}

/** Run a fixture with node; resolves with its exit code and output. */
function runChild(
  fixture: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "__test__", "fixtures", fixture), ...args], { cwd: ROOT, env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

const range = (n: number, f: (i: number) => number = (i) => i): number[] => Array.from({ length: n }, (_, i) => f(i));
const rows = (n: number, cols: number, f: (r: number, c: number) => number): number[][] =>
  range(n).map((r) => range(cols, (c) => f(r, c)));

describe.each([3, 2] as const)("round trips, Zarr v%i", (zarrFormat) => {
  it("append, overwrite, update and saveSync read back equal in zarr-python", async () => {
    const c = `roundtrip-v${zarrFormat}.zarr`;
    const create: SaveOptions = { zarrFormat };
    // append, 1-d float64: three batches over chunks of 4
    const a1 = saver(c, "a1");
    await a1.save(
      range(5, (i) => i / 2),
      { ...create, chunks: [4] },
    );
    await a1.save(range(7, (i) => (i + 5) / 2));
    await a1.save([6]);
    // append, 2-d int32 from typed arrays
    const a2 = saver(c, "a2");
    const block = (start: number, n: number) => ({
      data: Int32Array.from(range(n * 3, (i) => start * 3 + i - 40)),
      shape: [n, 3],
    });
    await a2.save(block(0, 3), { ...create, chunks: [2, 3] });
    await a2.save(block(3, 1));
    await a2.save(block(4, 4));
    // overwrite: a 1-d float64 array replaced by a 2-d uint16 one
    await saver(c, "ow").save(range(30), { ...create, chunks: [5] });
    const ow = rows(5, 3, (r, col) => 1000 * r + col);
    await saver(c, "ow", { approach: "overwrite" }).save(ow, { ...create, dtype: "uint16", chunks: [2, 3] });
    // update, 1-d int64: a list with a negative index, then a stepped slice
    await saver(c, "u1").save(range(20).map(BigInt), { ...create, chunks: [8] });
    const u1 = saver(c, "u1", { approach: "update" });
    await u1.save([100n, 200n], { indices: [3, -1] });
    await u1.save([7n, 8n, 9n], { indices: slice(4, 10, 2) });
    // update, 2-d float32: an orthogonal selection
    await saver(c, "u2").save(
      rows(4, 5, (r, col) => r * 5 + col),
      { ...create, dtype: "float32", chunks: [3, 2] },
    );
    const corners = rows(2, 2, (r, col) => -(2 * r + col + 1));
    await saver(c, "u2", { approach: "update" }).save(corners, { indices: { axes: [[0, 2], slice(1, 3)] } });
    // saveSync: create and append without the thread pool
    const sync = saver(c, "sync");
    expect(sync.saveSync([1, 2], { ...create, chunks: [2] }).shape).toEqual([2]);
    expect(sync.saveSync([3]).region).toEqual([[2, 3]]);

    const got = readS3(c, ["a1", "a2", "ow", "u1", "u2", "sync"]);
    const expected: Record<string, [number[], string, unknown]> = {
      a1: [[13], "float64", range(13, (i) => i / 2)],
      a2: [[8, 3], "int32", rows(8, 3, (r, col) => r * 3 + col - 40)],
      ow: [[5, 3], "uint16", ow],
      u1: [[20], "int64", range(20).map((i) => ({ 3: 100, 19: 200, 4: 7, 6: 8, 8: 9 })[i] ?? i)],
      u2: [[4, 5], "float32", rows(4, 5, (r, col) => (r % 2 === 0 && col >= 1 && col < 3 ? -(r + col) : r * 5 + col))],
      sync: [[3], "float64", [1, 2, 3]],
    };
    for (const [name, [shape, dtype, values]] of Object.entries(expected)) {
      const read = got[name] as Read;
      const { shape: s, dtype: d, format, values: v } = read;
      expect({ name, s, d, format, v }).toEqual({ name, s: shape, d: dtype, format: zarrFormat, v: values });
      // the lease is released and no temp object survives
      expect(
        read.keys.filter((k) => k.includes(".zarr-saver")),
        name,
      ).toEqual([]);
    }
    // overwrite leaves exactly the new array's chunks: nothing of the old 6 chunks remains
    const chunkKeys = (got.ow as Read).keys.filter((k) => !/(^|\/)(zarr\.json|\.zarray|\.zattrs)$/.test(k));
    expect(chunkKeys).toEqual(zarrFormat === 3 ? ["c/0/0", "c/1/0", "c/2/0"] : ["0.0", "1.0", "2.0"]);
  });
});

describe("many writers", () => {
  it("4 processes x 25 appends to one S3 dataset keep every batch once and whole", async () => {
    const [writers, batches] = [4, 25];
    const env = { ...process.env, ZARR_SAVER_TEST_STORAGE: JSON.stringify(storage()) };
    const url = `s3://${BUCKET}/writers.zarr`;
    const runs = await Promise.all(
      range(writers, (w) => w).map((w) => runChild("s3-append-writer.mjs", [url, "log", String(w), String(batches)], env)),
    );
    for (const run of runs) expect(run, run.err).toMatchObject({ code: 0, out: "done\n" });

    const read = readS3("writers.zarr", ["log"]).log as Read;
    const table = read.values as number[][];
    const seen = new Map<string, number>();
    const lastBatch = range(writers, () => -1);
    for (let i = 0; i < table.length; ) {
      const [w, k, , n] = table[i] as [number, number, number, number];
      expect(n, `row ${i}`).toBe(1 + ((3 * w + 2 * k) % 5));
      // a batch is its n rows, contiguous and in order
      expect(table.slice(i, i + n), `batch ${w}/${k} at row ${i}`).toEqual(range(n, (j) => j).map((j) => [w, k, j, n]));
      expect(seen.has(`${w}/${k}`), `batch ${w}/${k} twice`).toBe(false);
      seen.set(`${w}/${k}`, i);
      // each writer awaited its saves, so its batches land in order
      expect(k, `writer ${w} order`).toBe((lastBatch[w] as number) + 1);
      lastBatch[w] = k;
      i += n;
    }
    expect(seen.size).toBe(writers * batches);
    expect(read.shape).toEqual([table.length, 4]);
    expect(read.keys.filter((k) => k.includes(".zarr-saver"))).toEqual([]);
  });
});

const SECRET = "wJalrXUtnFEMI-K7MDENG-secretSECRET";
const TOKEN = "FwoGZXIvYXdzEBsessionTOKENtoken";

/** `run` fails with a StoreError whose message and stack hold no secret. */
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

/** This process's environment without AWS_* variables, plus a complete AWS_* configuration. */
function awsEnv(endpoint: string, key: string, secret: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
  const aws = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: MOTO_REGION, AWS_ALLOW_HTTP: "true" };
  return { ...env, ...aws, AWS_ACCESS_KEY_ID: key, AWS_SECRET_ACCESS_KEY: secret };
}

describe("errors", () => {
  const secretOptions = (endpoint?: string) => storage(endpoint, { secretAccessKey: SECRET, sessionToken: TOKEN });

  it("a missing bucket is a StoreError without secrets", async () => {
    const s = new ZarrSaver("s3://no-such-bucket/c.zarr", { storageOptions: secretOptions() });
    const e = await expectStoreError(() => s.save([1, 2, 3]));
    expect(e.message).toMatch(/NoSuchBucket|not found|404/i);
  });

  it("an unreachable endpoint fails within a bounded time", async () => {
    const port = await freePort(); // closed: connections are refused
    const s = new ZarrSaver(`s3://${BUCKET}/c.zarr`, { storageOptions: secretOptions(`http://127.0.0.1:${port}`) });
    const started = Date.now();
    await expectStoreError(() => s.save([1, 2, 3]));
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("http(s) filePaths are refused for writing", () => {
    for (const url of ["http://127.0.0.1:9/c.zarr", "https://example.com/c.zarr"]) {
      expect(() => new ZarrSaver(url, { storageOptions: storage() })).toThrow(InvalidArgumentError);
    }
  });

  it("an unknown storageOptions key is an InvalidArgumentError naming it", async () => {
    // refused at construction or at the first save, before any request
    const storageOptions = { ...secretOptions(), bogusOption: "1" };
    const err = await (async () => new ZarrSaver(`s3://${BUCKET}/c.zarr`, { storageOptions }).save([1]))().then(
      () => expect.unreachable("accepted"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/bogusOption|bogus_option/);
    expect((err as Error).message).not.toContain(SECRET);
  });

  it("AWS_* environment variables alone configure the store", async () => {
    const env = awsEnv(s3().endpoint, MOTO_KEY, MOTO_SECRET);
    const run = await runChild("s3-env-writer.mjs", [`s3://${BUCKET}/env.zarr`, "env"], env);
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ result: { shape: [3], dtype: "float64", region: [[0, 3]], created: true } });
    expect((readS3("env.zarr", ["env"]).env as Read).values).toEqual([1.5, 2.5, 3.5]);
  });

  describe("with a moto_server that checks credentials", () => {
    // The first S3 action is let through unauthenticated: it creates the bucket.
    const iam = useMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: "1" }, buckets: [BUCKET] });

    it("rejected credentials are a StoreError without secrets", async () => {
      const options = { ...secretOptions(iam().endpoint), accessKeyId: "AKIAUNKNOWNKEY000000" };
      const e = await expectStoreError(() => new ZarrSaver(`s3://${BUCKET}/c.zarr`, { storageOptions: options }).save([1]));
      expect(e.message).toMatch(/403|InvalidAccessKeyId|Forbidden|privileges/i);
    });

    it("credentials from the environment are the ones sent", async () => {
      const env = { ...awsEnv(iam().endpoint, "AKIAUNKNOWNKEY000000", SECRET), AWS_SESSION_TOKEN: TOKEN };
      const run = await runChild("s3-env-writer.mjs", [`s3://${BUCKET}/env.zarr`, "env"], env);
      expect(run.code, run.err).toBe(0);
      const { error } = JSON.parse(run.out) as { error: { name: string; code: string; message: string } };
      expect(error).toMatchObject({ name: "StoreError", code: "ERR_ZARR_STORE" });
      expect(error.message).toMatch(/403|InvalidAccessKeyId|Forbidden|privileges/i);
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(TOKEN);
    });
  });
});

describe("writer leases", () => {
  const leaseUrl = (container: string, dataset: string) => `${s3().endpoint}/${BUCKET}/${container}/${dataset}/.zarr-saver-lease`;
  const plantLease = async (url: string, expiresMs: number) => {
    const res = await fetch(url, { method: "PUT", body: JSON.stringify({ owner: "dead", expires_ms: expiresMs }) });
    expect(res.ok).toBe(true);
  };

  it("a crashed writer's expired lease does not block a save", async () => {
    const s = saver("lease.zarr", "stale");
    await s.save([1, 2]);
    await plantLease(leaseUrl("lease.zarr", "stale"), Date.now() - 1000);
    const started = Date.now();
    expect((await s.save([3])).shape).toEqual([3]);
    expect(Date.now() - started).toBeLessThan(5_000);
    // the taken-over lease is released
    expect((await fetch(leaseUrl("lease.zarr", "stale"))).status).toBe(404);
    expect((readS3("lease.zarr", ["stale"]).stale as Read).values).toEqual([1, 2, 3]);
  });

  it("a failed save releases its lease at once", async () => {
    const s = saver("lease.zarr", "failed");
    await s.save([[1, 2]]);
    await expect(s.save([1, 2, 3])).rejects.toMatchObject({ code: "ERR_ZARR_SHAPE_MISMATCH" });
    expect((await fetch(leaseUrl("lease.zarr", "failed"))).status).toBe(404);
    const started = Date.now();
    expect((await s.save([[3, 4]])).shape).toEqual([2, 2]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a live lease is waited for, then taken over when it expires", async () => {
    const s = saver("lease.zarr", "live");
    await s.save([1, 2]);
    const expires = Date.now() + 1500;
    await plantLease(leaseUrl("lease.zarr", "live"), expires);
    expect((await s.save([3])).shape).toEqual([3]);
    // Measured from the lease's own expiry, not from when planting it returned.
    const done = Date.now();
    expect(done).toBeGreaterThanOrEqual(expires);
    expect(done - expires).toBeLessThan(8_000);
  });
});

describe("GroupSaver on S3", () => {
  it("creates a consolidated group, appends every array together, and zarr-python reads it", async () => {
    const container = "group.zarr";
    const ds = new GroupSaver(`s3://${BUCKET}/${container}`, { group: "run", storageOptions: storage() });
    await ds.save({ temp: rows(2, 3, (r, c) => r * 10 + c), time: new BigInt64Array([1n, 2n]) });
    const more = await ds.save({ temp: rows(1, 3, (_, c) => 20 + c), time: new BigInt64Array([3n]) });
    expect(more.temp).toMatchObject({ shape: [3, 3], created: false });
    const read = readS3(container, ["run/temp", "run/time"]);
    expect(read["run/temp"]?.values).toEqual([
      [0, 1, 2],
      [10, 11, 12],
      [20, 21, 22],
    ]);
    expect(read["run/time"]?.values).toEqual([1, 2, 3]);
    // The root's consolidated copy, where xarray reads it, lists the new shapes.
    const listed = runPython<Record<string, number[]>>(
      `
import json, sys, s3fs
fs = s3fs.S3FileSystem(endpoint_url=sys.argv[1], key="${MOTO_KEY}", secret="${MOTO_SECRET}")
meta = json.loads(fs.cat(sys.argv[2] + "/zarr.json"))["consolidated_metadata"]["metadata"]
print(json.dumps({k: v.get("shape", []) for k, v in meta.items()}))
`,
      [s3().endpoint, `${BUCKET}/${container}`],
    );
    expect(listed).toMatchObject({ "run/temp": [3, 3], "run/time": [3] });
    // Unequal rows are refused before anything is written.
    await expect(ds.save({ temp: rows(2, 3, () => 9), time: new BigInt64Array([9n]) })).rejects.toMatchObject({
      code: "ERR_ZARR_SHAPE_MISMATCH",
    });
    expect(readS3(container, ["run/time"])["run/time"]?.values).toEqual([1, 2, 3]);
  });
});

describe("a GroupSaver writer killed on S3 while it holds the leases", () => {
  const KILLS = 20;
  const container = "group-crash.zarr";
  const names = ["a", "b", "time"];
  const objectUrl = (key: string) => `${s3().endpoint}/${BUCKET}/${key}`;
  // moto does not check signatures, but reads private objects only for a named key
  // holder: a request that names the test's key reads what the savers wrote.
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  const asOwner = {
    authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_KEY}/${day}/${MOTO_REGION}/s3/aws4_request, SignedHeaders=host, Signature=0`,
  };
  const getJson = async <T>(key: string): Promise<T | undefined> => {
    const res = await fetch(objectUrl(key), { headers: asOwner });
    return res.ok ? ((await res.json()) as T) : undefined;
  };
  const listKeys = async (): Promise<string[]> => {
    const res = await fetch(`${s3().endpoint}/${BUCKET}?list-type=2&prefix=${container}/`, { headers: asOwner });
    return [...(await res.text()).matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1] as string);
  };
  /** The root's consolidated entries: array name -> length. */
  const listedLengths = async (): Promise<Record<string, number | undefined>> => {
    const root = await getJson<{ consolidated_metadata: { metadata: Record<string, { shape?: number[] }> } }>(
      `${container}/zarr.json`,
    );
    const meta = root?.consolidated_metadata.metadata ?? {};
    return Object.fromEntries(names.map((n) => [n, meta[n]?.shape?.[0]]));
  };
  /** What 30 s would do: every lease the killed writer left runs out, its body kept. */
  const expireLeases = async (): Promise<void> => {
    for (const key of (await listKeys()).filter((k) => k.endsWith("/.zarr-saver-lease"))) {
      const body = await getJson<Record<string, unknown>>(key);
      const res = await fetch(objectUrl(key), {
        method: "PUT",
        headers: asOwner,
        body: JSON.stringify({ ...body, expires_ms: Date.now() - 1000 }),
      });
      expect(res.ok).toBe(true);
    }
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it(`${KILLS} kills: readers see one length, and the next writer finishes or drops the commit`, async () => {
    const seed = Number(process.env.ZARR_SAVER_SEED ?? Date.now() % 2 ** 31);
    const rand = mulberry32(seed);
    const url = `s3://${BUCKET}/${container}`;
    const storageOptions = storage();
    // The group exists before the first kill: creating one on an object store is not
    // a single step (docs/guarantees.md).
    const batch = (k: number) => ({
      a: { data: new Float64Array(6).fill(k), shape: [3, 2] },
      b: new Float64Array(3).fill(k),
      time: new BigInt64Array(3).fill(BigInt(k)),
    });
    await new GroupSaver(url, { storageOptions }).save(batch(1));
    let acknowledged = 1;
    let recordsFinished = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const first = ((await listedLengths()).time ?? 0) / 3 + 1;
      const child = spawn(
        process.execPath,
        [join(ROOT, "__test__", "fixtures", "group-writer.mjs"), url, String(first), JSON.stringify(storageOptions)],
        { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (s: string) => {
        out += s;
      });
      const closed = new Promise((r) => child.once("close", r));
      await sleep(300 + rand() * 900);
      child.kill("SIGKILL");
      await closed;
      const printed = out.split("\n").filter(Boolean).map(Number);
      if (printed.length > 0) acknowledged = Math.max(acknowledged, printed.at(-1) as number);
      const context = `seed ${seed}, kill ${kill}`;
      // What xarray reads, before anyone recovers: every array at one length, with
      // every acknowledged batch.
      const listed = await listedLengths();
      expect(new Set(Object.values(listed)).size, `${context}: ${JSON.stringify(listed)}`).toBe(1);
      expect(listed.time as number).toBeGreaterThanOrEqual(acknowledged * 3);
      if ((await listKeys()).some((k) => k.endsWith("/.zarr-saver-commit"))) recordsFinished++;
      // The killed writer's leases run out; the next writer takes them over and
      // finishes a commit it recorded. This save changes no value.
      await expireLeases();
      if (kill % 2 === 1) {
        // A writer of one of the arrays alone finishes the group's commit as well.
        await new ZarrSaver(url, { datasetName: "b", approach: "update", storageOptions }).save([1], { indices: 0 });
        expect(
          (await listKeys()).filter((k) => k.endsWith("/.zarr-saver-commit")),
          context,
        ).toEqual([]);
      }
      await new GroupSaver(url, { approach: "update", storageOptions }).save(
        { a: [[1, 1]], b: [1], time: new BigInt64Array([1n]) },
        { indices: 0 },
      );
      // Each array's own metadata now agrees with the consolidated copy, at one length.
      const own = Object.fromEntries(
        await Promise.all(
          names.map(async (n) => [n, (await getJson<{ shape: number[] }>(`${container}/${n}/zarr.json`))?.shape[0]] as const),
        ),
      );
      const agreed = await listedLengths();
      expect(own, context).toEqual(agreed);
      expect(new Set(Object.values(own)).size, context).toBe(1);
      expect(agreed.time as number).toBeGreaterThanOrEqual(acknowledged * 3);
      if (kill % 5 === 4) {
        // Batches are whole, read by zarr-python: batch k is rows 3k-3..3k, every k.
        const seen = runPython<{ a: number[][]; time: number[] }>(
          `
import json, sys, zarr
store = zarr.storage.FsspecStore.from_url("s3://" + sys.argv[2], read_only=True,
    storage_options=dict(endpoint_url=sys.argv[1], key="${MOTO_KEY}", secret="${MOTO_SECRET}"))
g = zarr.open_group(store, mode="r")
print(json.dumps({"a": g["a"][:].tolist(), "time": g["time"][:].tolist()}))
`,
          [s3().endpoint, `${BUCKET}/${container}`],
        );
        const batchOf = (i: number): number => Math.floor(i / 3) + 1;
        expect(seen.time.length, context).toBe(agreed.time);
        expect(seen.time, context).toEqual(seen.time.map((_, i) => batchOf(i)));
        expect(seen.a, context).toEqual(seen.a.map((_, i) => [batchOf(i), batchOf(i)]));
      }
      // Nothing of the killed writer is left: no lease, no record.
      expect(
        (await listKeys()).filter((k) => /\.zarr-saver-(lease|commit)$/.test(k)),
        context,
      ).toEqual([]);
    }
    expect(acknowledged).toBeGreaterThan(1);
    console.log(`S3 group crash test: ${recordsFinished} of ${KILLS} kills left a commit record, finished by the next writer`);
  }, 300_000);
});
