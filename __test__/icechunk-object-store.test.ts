/**
 * Icechunk repositories on object stores, S3 (the moto server of the object-store tests),
 * Azure Blob Storage (Azurite) and Google Cloud Storage (fake-gcs-server behind the XML API
 * test gateway of helpers/gcs-gateway.ts, which requires a bearer token), read back by
 * Python icechunk (on GCS through the same gateway, its client being object_store's too):
 *
 * - appends and an update, each one commit, values and history as Python sees them;
 * - a GroupSaver save is one commit for all its arrays;
 * - 3 processes x 8 appends racing for the branch: Icechunk's conflict detection
 *   and the retried save lose and double no batch;
 * - options the store's client does not take are refused, naming the option;
 * - on Azure, AZURE_* variables alone configure the client; refused credentials and a
 *   missing container are StoreErrors without the secret; on GCS, GOOGLE_* variables
 *   alone configure the client, and a refused token and a missing bucket are
 *   StoreErrors without the token;
 * - on S3, a save that loses the race for the branch every time: after its bounded
 *   retries a ConflictError, and nothing of it on the branch.
 *
 * (object-store-gcs.test.ts checks which credentials a gs:// repository's client uses, and
 * that it never asks the metadata server when given some.)
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { ConflictError, GroupSaver, InvalidArgumentError, StoreError, ZarrSaver } from "../src/index.js";
import { runFixture } from "./helpers/child.js";
import { AZURITE_ACCOUNT, AZURITE_KEY, useAzurite, useFakeGcs } from "./helpers/emulators.js";
import { type ArrayAt, batchesIn, history, type RepoAt, saverTarget, startWriter } from "./helpers/icechunk.js";
import { MOTO_KEY, MOTO_REGION, MOTO_SECRET, useMoto } from "./helpers/moto.js";

let repos = 0;

describe("an Icechunk repository on S3", () => {
  const BUCKET = "ice";
  const s3 = useMoto({ buckets: [BUCKET] });
  onObjectStore(() => ({
    s3: {
      bucket: BUCKET,
      prefix: `repo${repos++}`,
      endpoint: s3().endpoint,
      region: MOTO_REGION,
      key: MOTO_KEY,
      secret: MOTO_SECRET,
    },
  }));
});

describe("an Icechunk repository on S3, a writer that always loses the race", () => {
  const BUCKET = "ice";
  const s3 = useMoto({ buckets: [BUCKET] });

  it("is retried a bounded number of times, then ConflictError, and the branch holds nothing of it", async () => {
    const at: RepoAt = {
      s3: { bucket: BUCKET, prefix: "raced", endpoint: s3().endpoint, region: MOTO_REGION, key: MOTO_KEY, secret: MOTO_SECRET },
    };
    const commitOther = async (writer: number) => {
      const { code, err } = await startWriter(at, writer, 1).closed;
      expect(code, err).toBe(0);
    };
    await commitOther(0);
    // Between the loser's session and its commit (the conditional PUT of the repository's
    // info file), another process commits an append to the same array, every time.
    const target = new URL(s3().endpoint);
    let interposed = 0;
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        if (req.method === "PUT" && req.url?.split("?")[0] === `/${BUCKET}/raced/repo`) await commitOther(++interposed);
        const forward = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        forward.on("error", () => res.writeHead(502).end());
        forward.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const { filePath, storageOptions } = saverTarget(at);
      const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const loser = new ZarrSaver(filePath, {
        datasetName: "log",
        storageOptions: { ...storageOptions, endpoint },
        icechunk: {},
      });
      const err = await loser.save({ data: new Float64Array([-1, -1, -1]), shape: [1, 3] }, { chunks: [4, 3] }).then(
        () => expect.unreachable("the save won a race it was made to lose"),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).message).toMatch(/gave up after 12 attempts/);
    } finally {
      proxy.close();
    }
    expect(interposed).toBe(12);
    const h = history(at, ["log"]);
    expect(h.ancestry).toHaveLength(2 + 12); // the repository's first commit, the first save, one per race
    const head = h.at[h.ancestry[0]?.id as string]?.log as ArrayAt;
    expect(batchesIn(head.values as number[][])).toEqual(Array.from({ length: 13 }, (_, w) => `${w}:0`));
  }, 120_000);
});

describe("an Icechunk repository on Azure Blob Storage", () => {
  const CONTAINER = "ice";
  const azure = useAzurite({ containers: [CONTAINER] });
  const repoAt = (): RepoAt => ({
    az: {
      container: CONTAINER,
      prefix: `repo${repos++}`,
      endpoint: azure().endpoint,
      account: AZURITE_ACCOUNT,
      key: AZURITE_KEY,
    },
  });
  onObjectStore(repoAt);

  it("without an account name the save is refused, naming accountName", async () => {
    const { filePath, storageOptions } = saverTarget(repoAt());
    const { accountName: _, ...rest } = storageOptions as Record<string, string | boolean>;
    const saver = new ZarrSaver(filePath, { storageOptions: rest, icechunk: {} });
    await expect(saver.save([1])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(saver.save([1])).rejects.toThrow(/accountName/);
  });

  it("AZURE_* environment variables alone configure the repository's client", async () => {
    const at = repoAt();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AZURE_")));
    const run = await runFixture("s3-env-writer.mjs", [saverTarget(at).filePath, "env", "icechunk"], {
      ...env,
      AZURE_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
      AZURE_STORAGE_ACCOUNT_KEY: AZURITE_KEY,
      AZURE_STORAGE_ENDPOINT: azure().endpoint,
      AZURE_ALLOW_HTTP: "true",
    });
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ result: { shape: [3], snapshotId: expect.any(String) } });
    const h = history(at, ["env"]);
    expect(h.at[h.ancestry[0]?.id as string]?.env).toEqual({ shape: [3], values: [1.5, 2.5, 3.5] });
  });

  it("a refused key and a missing container are StoreErrors without the key", async () => {
    const wrongKey = Buffer.from("not-the-account-key-0123456789abcdef").toString("base64");
    const { filePath, storageOptions } = saverTarget(repoAt());
    for (const [path, options] of [
      [filePath, { ...storageOptions, accessKey: wrongKey }],
      [filePath.replace(`az://${CONTAINER}/`, "az://no-such-container/"), storageOptions],
    ] as const) {
      const err = await new ZarrSaver(path, { storageOptions: options, icechunk: {} }).save([1]).then(
        () => expect.unreachable("the save succeeded"),
        (e: unknown) => e as StoreError,
      );
      expect(err).toBeInstanceOf(StoreError);
      for (const secret of [wrongKey, AZURITE_KEY]) {
        expect(err.message).not.toContain(secret);
        expect(String(err.stack)).not.toContain(secret);
      }
    }
  });
});

describe("an Icechunk repository on Google Cloud Storage", () => {
  const BUCKET = "ice";
  const TOKEN = "ya29.icechunk-test-token";
  const gcs = useFakeGcs({ buckets: [BUCKET], bearerToken: TOKEN });
  const repoAt = (): RepoAt => ({ gs: { bucket: BUCKET, prefix: `repo${repos++}`, baseUrl: gcs().baseUrl, token: TOKEN } });
  onObjectStore(repoAt);

  it("GOOGLE_* environment variables alone configure the repository's client", async () => {
    const at = repoAt();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GOOGLE_")));
    const run = await runFixture("s3-env-writer.mjs", [saverTarget(at).filePath, "env", "icechunk"], {
      ...env,
      GOOGLE_BASE_URL: gcs().baseUrl,
      GOOGLE_BEARER_TOKEN: TOKEN,
      GOOGLE_ALLOW_HTTP: "true",
    });
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ result: { shape: [3], snapshotId: expect.any(String) } });
    const h = history(at, ["env"]);
    expect(h.at[h.ancestry[0]?.id as string]?.env).toEqual({ shape: [3], values: [1.5, 2.5, 3.5] });
  });

  it("a refused token and a missing bucket are StoreErrors without the token", async () => {
    const wrong = "ya29.not-the-token-0123456789";
    const at = repoAt();
    const { filePath, storageOptions } = saverTarget(at);
    for (const [path, options] of [
      [filePath, { ...storageOptions, bearerToken: wrong }],
      [filePath.replace(`gs://${BUCKET}/`, "gs://no-such-bucket/"), storageOptions],
    ] as const) {
      const err = await new ZarrSaver(path, { storageOptions: options, icechunk: {} }).save([1]).then(
        () => expect.unreachable("the save succeeded"),
        (e: unknown) => e as StoreError,
      );
      expect(err).toBeInstanceOf(StoreError);
      for (const secret of [wrong, TOKEN]) {
        expect(err.message).not.toContain(secret);
        expect(String(err.stack)).not.toContain(secret);
      }
    }
    // the refused save created nothing
    const prefix = "gs" in at ? at.gs.prefix : "";
    const listed = (await (await fetch(`${gcs().endpoint}/storage/v1/b/${BUCKET}/o?prefix=${prefix}/`)).json()) as {
      items?: unknown[];
    };
    expect(listed.items ?? []).toEqual([]);
  });
});

/** The tests every object store runs, each on a fresh repository of `repoAt()`. */
function onObjectStore(repoAt: () => RepoAt): void {
  it("appends and an update: one commit each, read back by Python icechunk", async () => {
    const at = repoAt();
    const { filePath, storageOptions } = saverTarget(at);
    const appender = new ZarrSaver(filePath, { datasetName: "x", storageOptions, icechunk: {} });
    const r1 = await appender.save([
      [1, 2],
      [3, 4],
    ]);
    const r2 = await appender.save([[5, 6]]);
    const updater = new ZarrSaver(filePath, { datasetName: "x", approach: "update", storageOptions, icechunk: {} });
    const r3 = await updater.save([[0, 0]], { indices: 0 });
    const h = history(at, ["x"]);
    expect(h.ancestry.map((c) => c.id)).toEqual([r3.snapshotId, r2.snapshotId, r1.snapshotId, expect.any(String)]);
    expect(h.at[r1.snapshotId as string]?.x).toEqual({
      shape: [2, 2],
      values: [
        [1, 2],
        [3, 4],
      ],
    });
    expect(h.at[r2.snapshotId as string]?.x).toEqual({
      shape: [3, 2],
      values: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    });
    expect(h.at[r3.snapshotId as string]?.x).toEqual({
      shape: [3, 2],
      values: [
        [0, 0],
        [3, 4],
        [5, 6],
      ],
    });
  });

  it("a GroupSaver save is one commit for all its arrays", async () => {
    const at = repoAt();
    const { filePath, storageOptions } = saverTarget(at);
    const ds = new GroupSaver(filePath, { group: "ds", storageOptions, icechunk: {} });
    await ds.save({ a: [1, 2], b: [[1], [2]] });
    const second = await ds.save({ a: [3], b: [[3]] });
    const h = history(at, ["ds/a", "ds/b"]);
    expect(h.ancestry).toHaveLength(3);
    expect(h.at[second.a?.snapshotId as string]).toEqual({
      "ds/a": { shape: [3], values: [1, 2, 3] },
      "ds/b": { shape: [3, 1], values: [[1], [2], [3]] },
    });
  });

  it("3 processes x 8 appends racing for the branch: every batch exactly once, whole", async () => {
    const at = repoAt();
    const writers = [0, 1, 2].map((w) => startWriter(at, w, 8));
    for (const w of writers) {
      const { code, err } = await w.closed;
      expect(code, err).toBe(0);
    }
    const h = history(at, ["log"]);
    const head = h.at[h.ancestry[0]?.id as string]?.log as ArrayAt;
    const found = batchesIn(head.values as number[][]);
    const expected = [0, 1, 2].flatMap((w) => Array.from({ length: 8 }, (_, k) => `${w}:${k}`));
    expect([...found].sort()).toEqual([...expected].sort());
    expect(h.ancestry).toHaveLength(25);
  });

  it("an option the store's client does not take is refused by name", async () => {
    const { filePath, storageOptions } = saverTarget(repoAt());
    const saver = new ZarrSaver(filePath, { storageOptions: { ...storageOptions, requestPayer: true }, icechunk: {} });
    await expect(saver.save([1])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(saver.save([1])).rejects.toThrow(/request_payer/);
  });
}
