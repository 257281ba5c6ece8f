/**
 * Icechunk repositories on S3 (the moto server of the object-store tests), read
 * back by Python icechunk:
 *
 * - appends and an update, each one commit, values and history as Python sees them;
 * - a GroupSaver save is one commit for all its arrays;
 * - 3 processes x 8 appends racing for the branch: Icechunk's conflict detection
 *   and the retried save lose and double no batch;
 * - options Icechunk's S3 client does not take are refused, naming the option.
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { describe, expect, it } from "vitest";
import { GroupSaver, InvalidArgumentError, ZarrSaver } from "../src/index.js";
import { type ArrayAt, batchesIn, history, type RepoAt, saverTarget, startWriter } from "./helpers/icechunk.js";
import { MOTO_KEY, MOTO_REGION, MOTO_SECRET, useMoto } from "./helpers/moto.js";

const BUCKET = "ice";
const s3 = useMoto({ buckets: [BUCKET] });

let repos = 0;
const repoAt = (): RepoAt => ({
  s3: {
    bucket: BUCKET,
    prefix: `repo${repos++}`,
    endpoint: s3().endpoint,
    region: MOTO_REGION,
    key: MOTO_KEY,
    secret: MOTO_SECRET,
  },
});

describe("an Icechunk repository on S3", () => {
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

  it("an option Icechunk's S3 client does not take is refused by name", async () => {
    const { filePath, storageOptions } = saverTarget(repoAt());
    const saver = new ZarrSaver(filePath, { storageOptions: { ...storageOptions, requestPayer: true }, icechunk: {} });
    await expect(saver.save([1])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(saver.save([1])).rejects.toThrow(/request_payer/);
  });
});
