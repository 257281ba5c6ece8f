/**
 * Icechunk repositories: every save one commit on a branch, read back by Python
 * icechunk (2.x, in the venv of scripts/python-icechunk-venv.sh).
 *
 * - appends, an update and an overwrite: values, one snapshot per save in the
 *   branch's ancestry, and each returned snapshotId showing the array as it was;
 * - a repository and array Python icechunk made, appended and updated;
 * - a GroupSaver save is one commit for all its arrays;
 * - bad input leaves the repository as it was (or not there at all);
 * - 3 processes x 8 appends to one local repository: every batch once, whole;
 * - SIGKILL mid-save: the branch opens, holds whole batches, every acknowledged one;
 *   mid group save: every snapshot has every array of the group at one length.
 *
 * Child processes import the built package: run `npm run build` after changing src/ or native/.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GroupSaver, InvalidArgumentError, ShapeMismatchError, ZarrSaver } from "../src/index.js";
import { type ArrayAt, batchesIn, history, startGroupWriter, startWriter } from "./helpers/icechunk.js";
import { mulberry32 } from "./helpers/prng.js";
import { runIcechunkPython } from "./helpers/python.js";
import { snapshotTree, tempDir } from "./helpers/tmp.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rows = (n: number, from: number, width = 3): number[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, j) => (from + i) * 10 + j));

describe("saves into an Icechunk repository", () => {
  it("appends, an update and an overwrite: one commit each, every snapshot as it was", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const appender = new ZarrSaver(repo, { datasetName: "x", icechunk: {} });
    const r1 = await appender.save(rows(2, 0), { chunks: [2, 3] });
    const r2 = await appender.save(rows(1, 2));
    const r3 = await appender.save(rows(2, 3));
    const updater = new ZarrSaver(repo, { datasetName: "x", approach: "update", icechunk: {} });
    const r4 = await updater.save([[-1, -2, -3]], { indices: 1 });
    const overwriter = new ZarrSaver(repo, {
      datasetName: "x",
      approach: "overwrite",
      icechunk: { message: "replace x" },
    });
    const r5 = await overwriter.save([[7, 8]]);
    const ids = [r1, r2, r3, r4, r5].map((r) => r.snapshotId);
    for (const id of ids) expect(id).toMatch(/^[0-9A-Z]{20}$/);
    expect(new Set(ids).size).toBe(5);
    expect(r3.shape).toEqual([5, 3]);

    const h = history({ local: repo }, ["x"]);
    // One snapshot per save, newest first, above the repository's first commit.
    expect(h.ancestry.map((c) => c.id).slice(0, 5)).toEqual([...ids].reverse());
    expect(h.ancestry).toHaveLength(6);
    const messages = h.ancestry.map((c) => c.message);
    expect(messages[4]).toMatch(/create 'x'.*\[2, 3\]/);
    expect(messages[3]).toMatch(/append rows 2\.\.3 .*'x'/);
    expect(messages[2]).toMatch(/append rows 3\.\.5 .*'x'/);
    expect(messages[1]).toMatch(/update .*'x'/);
    expect(messages[0]).toBe("replace x");
    const at = (r: { snapshotId?: string }) => h.at[r.snapshotId as string]?.x;
    expect(at(r1)).toEqual({ shape: [2, 3], values: rows(2, 0) });
    expect(at(r2)).toEqual({ shape: [3, 3], values: rows(3, 0) });
    expect(at(r3)).toEqual({ shape: [5, 3], values: rows(5, 0) });
    const updated = rows(5, 0);
    updated[1] = [-1, -2, -3];
    expect(at(r4)).toEqual({ shape: [5, 3], values: updated });
    expect(at(r5)).toEqual({ shape: [1, 2], values: [[7, 8]] });
  });

  it("appends to and updates an array Python icechunk made", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    runIcechunkPython(
      `
import icechunk, json, sys, zarr, numpy as np
repo = icechunk.Repository.create(icechunk.local_filesystem_storage(sys.argv[1]))
session = repo.writable_session("main")
root = zarr.group(session.store)
a = root.create_array("t", shape=(4, 2), chunks=(3, 2), dtype="int32",
                      compressors=zarr.codecs.ZstdCodec(level=3), attributes={"units": "K"})
a[...] = np.arange(8, dtype="int32").reshape(4, 2)
print(json.dumps(session.commit("made by python")))
`,
      [repo],
    );
    const appended = await new ZarrSaver(repo, { datasetName: "t", icechunk: {} }).save({
      data: new Int32Array([8, 9, 10, 11]),
      shape: [2, 2],
    });
    expect(appended.shape).toEqual([6, 2]);
    const updated = await new ZarrSaver(repo, { datasetName: "t", approach: "update", icechunk: {} }).save([[-5, -6]], {
      indices: 0,
    });
    const h = history({ local: repo }, ["t"]);
    expect(h.ancestry.map((c) => c.message).slice(0, 3)).toEqual([
      expect.stringMatching(/update/),
      expect.stringMatching(/append rows 4\.\.6/),
      "made by python",
    ]);
    expect(h.at[updated.snapshotId as string]?.t).toEqual({
      shape: [6, 2],
      values: [
        [-5, -6],
        [2, 3],
        [4, 5],
        [6, 7],
        [8, 9],
        [10, 11],
      ],
    });
    const meta = runIcechunkPython<{ attrs: unknown; dtype: string; codecs: string }>(
      `
import icechunk, json, sys, zarr
repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
a = zarr.open_group(repo.readonly_session(branch="main").store, mode="r")["t"]
print(json.dumps({"attrs": dict(a.attrs), "dtype": str(a.dtype), "codecs": repr(a.compressors)}))
`,
      [repo],
    );
    expect(meta).toMatchObject({ attrs: { units: "K" }, dtype: "int32" });
    expect(meta.codecs).toMatch(/Zstd/);
  });

  it("an append after another writer rewrote the tail chunk builds on that writer's values", async () => {
    // The appender keeps the tail chunk it wrote for its next append; Python's commit
    // in between replaces that chunk, and the next append must read it again. (Rows
    // of noise: a chunk small after compression would be inlined in the manifest,
    // and only chunks stored as objects are kept.)
    const repo = join(tempDir("zs-ice-"), "repo");
    const appender = new ZarrSaver(repo, { datasetName: "t", icechunk: {} });
    const rows = Array.from({ length: 64 }, (_, i) => [Math.sin(i + 1) * 1e6, Math.cos(i + 1) / 3]);
    await appender.save(rows, { chunks: [128, 2] });
    await appender.save([[2, 2]]);
    runIcechunkPython(
      `
import icechunk, json, sys, zarr
repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
session = repo.writable_session("main")
zarr.open_group(session.store)["t"][1] = [-2, -2]
print(json.dumps(session.commit("python rewrites row 1")))
`,
      [repo],
    );
    const last = await appender.save([[3, 3]]);
    const h = history({ local: repo }, ["t"]);
    const expected = [...rows, [2, 2], [3, 3]];
    expected[1] = [-2, -2];
    expect(h.at[last.snapshotId as string]?.t).toEqual({ shape: [66, 2], values: expected });
  });

  it("keeps a repository's configuration: its manifest splitting is followed, nothing is persisted", async () => {
    // zarr-saver opens repositories with a writer's configuration of its own (no
    // manifest preloading); a repository's splitting must still rule its manifests,
    // and none of it may be saved into the repository.
    const dir = tempDir("zs-ice-");
    const manifests = (repo: string, snapshot: string) =>
      runIcechunkPython<{ refs: number[]; persisted: boolean }>(
        `
import icechunk, json, sys
storage = icechunk.local_filesystem_storage(sys.argv[1])
repo = icechunk.Repository.open(storage)
refs = sorted(m.num_chunk_refs for m in repo.list_manifest_files(sys.argv[2]))
print(json.dumps({"refs": refs, "persisted": icechunk.Repository.fetch_config(storage) is not None}))
`,
        [repo, snapshot],
      );
    const split = join(dir, "split");
    runIcechunkPython(
      `
import icechunk, json, sys, zarr
one = {icechunk.ManifestSplitCondition.AnyArray(): {icechunk.ManifestSplitDimCondition.Any(): 1}}
config = icechunk.RepositoryConfig(manifest=icechunk.ManifestConfig(splitting=icechunk.ManifestSplittingConfig.from_dict(one)))
repo = icechunk.Repository.create(icechunk.local_filesystem_storage(sys.argv[1]), config=config)
session = repo.writable_session("main")
zarr.group(session.store).create_array("t", shape=(0, 2), chunks=(2, 2), dtype="float64")
print(json.dumps(session.commit("made by python")))
`,
      [split],
    );
    const rows = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
      [9, 10],
      [11, 12],
    ];
    const intoSplit = await new ZarrSaver(split, { datasetName: "t", icechunk: {} }).save(rows);
    expect(manifests(split, intoSplit.snapshotId as string)).toEqual({ refs: [1, 1, 1], persisted: true });
    const plain = join(dir, "plain");
    const intoPlain = await new ZarrSaver(plain, { datasetName: "t", icechunk: {} }).save(rows, { chunks: [2, 2] });
    expect(manifests(plain, intoPlain.snapshotId as string)).toEqual({ refs: [3], persisted: false });
  });

  it("a GroupSaver save is one commit for all its arrays", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const ds = new GroupSaver(repo, { group: "ds", icechunk: {} });
    const first = await ds.save({
      temp: [
        [1, 2],
        [3, 4],
      ],
      time: [0, 1],
    });
    const second = await ds.save({ temp: [[5, 6]], time: [2] });
    expect(first.temp?.snapshotId).toBeDefined();
    expect(first.temp?.snapshotId).toBe(first.time?.snapshotId);
    expect(second.temp?.snapshotId).toBe(second.time?.snapshotId);
    // Unequal rows: refused before anything is written, no commit.
    await expect(ds.save({ temp: [[7, 8]], time: [3, 4] })).rejects.toBeInstanceOf(ShapeMismatchError);
    const h = history({ local: repo }, ["ds/temp", "ds/time"]);
    expect(h.ancestry).toHaveLength(3);
    expect(h.ancestry[0]?.message).toMatch(/append 1 rows to group 'ds' \(temp, time\)/);
    expect(h.at[first.temp?.snapshotId as string]).toEqual({
      "ds/temp": {
        shape: [2, 2],
        values: [
          [1, 2],
          [3, 4],
        ],
      },
      "ds/time": { shape: [2], values: [0, 1] },
    });
    expect(h.at[second.temp?.snapshotId as string]).toEqual({
      "ds/temp": {
        shape: [3, 2],
        values: [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      },
      "ds/time": { shape: [3], values: [0, 1, 2] },
    });
  });

  it("saves on another branch commit there and leave main as it was", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const first = await new ZarrSaver(repo, { datasetName: "x", icechunk: {} }).save([1, 2]);
    runIcechunkPython(
      `
import icechunk, json, sys
repo = icechunk.Repository.open(icechunk.local_filesystem_storage(sys.argv[1]))
repo.create_branch("dev", snapshot_id=sys.argv[2])
print(json.dumps(True))
`,
      [repo, first.snapshotId as string],
    );
    const onDev = new ZarrSaver(repo, { datasetName: "x", icechunk: { branch: "dev" } });
    const appended = await onDev.save([3]);
    const dev = history({ local: repo }, ["x"], "dev");
    expect(dev.ancestry.map((c) => c.id).slice(0, 2)).toEqual([appended.snapshotId, first.snapshotId]);
    expect(dev.at[appended.snapshotId as string]?.x).toEqual({ shape: [3], values: [1, 2, 3] });
    const main = history({ local: repo }, ["x"]);
    expect(main.ancestry[0]?.id).toBe(first.snapshotId);
    expect(main.at[first.snapshotId as string]?.x).toEqual({ shape: [2], values: [1, 2] });
  });

  it("bad input leaves the repository as it was, or not made", async () => {
    const dir = tempDir("zs-ice-");
    const repo = join(dir, "repo");
    const v2 = new ZarrSaver(repo, { datasetName: "x", icechunk: {} });
    await expect(v2.save([1, 2], { zarrFormat: 2 })).rejects.toThrow(/zarrFormat 2.*Zarr v3/);
    await expect(v2.save([1, 2], { consolidated: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(existsSync(repo)).toBe(false);
    expect(() => new ZarrSaver(repo, { icechunk: { branch: "" } })).toThrow(InvalidArgumentError);
    expect(() => new ZarrSaver(repo, { icechunk: { tag: "v1" } as never })).toThrow(/icechunk: unknown option 'tag'/);
    await v2.save([1, 2]);
    await expect(v2.save([[1, 2]])).rejects.toBeInstanceOf(ShapeMismatchError);
    await expect(new ZarrSaver(repo, { datasetName: "x", icechunk: { branch: "dev" } }).save([3])).rejects.toThrow(
      /branch 'dev' does not exist/,
    );
    expect(history({ local: repo }, ["x"]).ancestry).toHaveLength(2);
    // A directory with other files in it never becomes a repository.
    const other = join(dir, "other");
    await new ZarrSaver(other, { datasetName: "plain" }).save([1]);
    const before = snapshotTree(other);
    await expect(new ZarrSaver(other, { icechunk: {} }).save([1])).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(snapshotTree(other)).toEqual(before);
  });

  it("a repository removed between two saves of one process is made again", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const saver = new ZarrSaver(repo, { datasetName: "x", icechunk: {} });
    await saver.save([1, 2]);
    rmSync(repo, { recursive: true });
    const again = await saver.save([3]);
    expect(again).toMatchObject({ shape: [1], created: true });
    const h = history({ local: repo }, ["x"]);
    expect(h.ancestry).toHaveLength(2);
    expect(h.at[again.snapshotId as string]?.x).toEqual({ shape: [1], values: [3] });
  });
});

describe("many writers and crashes on a local repository", () => {
  it("3 processes x 8 appends: every batch exactly once, whole, one commit each", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const writers = [0, 1, 2].map((w) => startWriter({ local: repo }, w, 8));
    for (const w of writers) {
      const { code, err } = await w.closed;
      expect(code, err).toBe(0);
    }
    const h = history({ local: repo }, ["log"]);
    const head = h.at[h.ancestry[0]?.id as string]?.log as ArrayAt;
    const found = batchesIn(head.values as number[][]);
    const expected = [0, 1, 2].flatMap((w) => Array.from({ length: 8 }, (_, k) => `${w}:${k}`));
    expect([...found].sort()).toEqual([...expected].sort());
    // 24 commits above the first; each snapshot holds whole batches only.
    expect(h.ancestry).toHaveLength(25);
    for (const commit of h.ancestry.slice(0, 24)) {
      batchesIn(h.at[commit.id]?.log?.values as number[][]);
    }
  });

  it("SIGKILL mid-save, 10 times: the branch opens with whole batches, every acknowledged one", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const rand = mulberry32(Number(process.env.ZARR_SAVER_SEED ?? 16));
    const acknowledged: string[] = [];
    for (let round = 0; round < 10; round++) {
      // Writer id = round, so every round's batches differ from the others'.
      const w = startWriter({ local: repo }, round, 1_000);
      if (rand() < 0.3) {
        await sleep(rand() * 400);
      } else {
        await Promise.race([w.firstLine, sleep(15_000)]);
        await sleep(rand() * 60);
      }
      w.child.kill("SIGKILL");
      const { signal, err } = await w.closed;
      expect(signal, err).toBe("SIGKILL");
      acknowledged.push(...w.acknowledged.map((k) => `${round}:${k}`));
    }
    // Most kills came after a save resolved, so mid-way through a later one.
    expect(acknowledged.length).toBeGreaterThan(0);
    // A writer after the crashes commits on top of what they left.
    const after = startWriter({ local: repo }, 99, 1);
    expect((await after.closed).code).toBe(0);
    const h = history({ local: repo }, ["log"]);
    const head = h.at[h.ancestry[0]?.id as string]?.log as ArrayAt;
    const found = batchesIn(head.values as number[][]);
    expect(new Set(found).size).toBe(found.length);
    for (const batch of [...acknowledged, "99:0"]) expect(found).toContain(batch);
    // Nothing but whole batches in any snapshot, and one commit per batch found.
    expect(h.ancestry).toHaveLength(found.length + 1);
  });

  it("SIGKILL mid group save, 5 times: every snapshot has both arrays at one length", async () => {
    const repo = join(tempDir("zs-ice-"), "repo");
    const rand = mulberry32(Number(process.env.ZARR_SAVER_SEED ?? 17));
    const acknowledged: string[] = [];
    for (let round = 0; round < 5; round++) {
      const w = startGroupWriter(repo, round, 1_000);
      await Promise.race([w.firstLine, sleep(15_000)]);
      await sleep(rand() * 60);
      w.child.kill("SIGKILL");
      const { signal, err } = await w.closed;
      expect(signal, err).toBe("SIGKILL");
      acknowledged.push(...w.acknowledged.map((k) => `${round}:${k}`));
    }
    const h = history({ local: repo }, ["g/a", "g/b"]);
    for (const commit of h.ancestry.slice(0, -1)) {
      const at = h.at[commit.id] as Record<string, ArrayAt>;
      const a = at["g/a"]?.values as number[][];
      // All arrays or none: b holds, row for row, the batch of a's row.
      expect(at["g/b"]?.values).toEqual(a.map((row) => row[1]));
      batchesIn(a);
    }
    const head = h.at[h.ancestry[0]?.id as string]?.["g/a"] as ArrayAt;
    const found = batchesIn(head.values as number[][]);
    for (const batch of acknowledged) expect(found).toContain(batch);
    expect(h.ancestry).toHaveLength(found.length + 1);
  });
});
