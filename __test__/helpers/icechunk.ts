/**
 * Icechunk repositories as Python icechunk sees them, and writer processes that
 * append recognisable batches to one (fixtures/icechunk-writer.mjs).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, expect } from "vitest";
import { runIcechunkPython } from "./python.js";

const ROOT = join(import.meta.dirname, "..", "..");
const WRITER = join(ROOT, "__test__", "fixtures", "icechunk-writer.mjs");
const GROUP_WRITER = join(ROOT, "__test__", "fixtures", "icechunk-group-writer.mjs");

/**
 * Where a repository is: a local directory, or a prefix of a bucket on an S3 endpoint, of a
 * container on an Azure Blob endpoint, or of a bucket on a GCS XML API endpoint (`baseUrl`)
 * that takes bearer `token`.
 */
export type RepoAt =
  | { local: string }
  | { s3: { bucket: string; prefix: string; endpoint: string; region: string; key: string; secret: string } }
  | { az: { container: string; prefix: string; endpoint: string; account: string; key: string } }
  | { gs: { bucket: string; prefix: string; baseUrl: string; token: string } };

/** `filePath` and `storageOptions` of a saver for `at`. */
export function saverTarget(at: RepoAt): { filePath: string; storageOptions?: Record<string, string | boolean> } {
  if ("local" in at) return { filePath: at.local };
  if ("gs" in at) {
    const { bucket, prefix, baseUrl, token } = at.gs;
    return { filePath: `gs://${bucket}/${prefix}`, storageOptions: { baseUrl, bearerToken: token, allowHttp: true } };
  }
  if ("az" in at) {
    const { container, prefix, endpoint, account, key } = at.az;
    return {
      filePath: `az://${container}/${prefix}`,
      storageOptions: { accountName: account, accessKey: key, endpoint, allowHttp: true },
    };
  }
  const { bucket, prefix, endpoint, region, key, secret } = at.s3;
  return {
    filePath: `s3://${bucket}/${prefix}`,
    storageOptions: { endpoint, region, accessKeyId: key, secretAccessKey: secret, allowHttp: true },
  };
}

export interface Commit {
  id: string;
  message: string;
}
export interface ArrayAt {
  shape: number[];
  values: unknown;
}
export interface History {
  /** Newest first, the repository's first commit last. */
  ancestry: Commit[];
  /** Per snapshot id, the arrays asked for that exist in it. */
  at: Record<string, Record<string, ArrayAt>>;
}

/** The branch's history as Python icechunk reads it, with the arrays asked for at every snapshot. */
const READ_HISTORY = `
import icechunk, json, sys, zarr
at, branch, names = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
if "local" in at:
    storage = icechunk.local_filesystem_storage(at["local"])
elif "gs" in at:
    gs = at["gs"]
    storage = icechunk.gcs_storage(bucket=gs["bucket"], prefix=gs["prefix"], bearer_token=gs["token"],
                                   config={"base_url": gs["baseUrl"], "allow_http": "true"})
elif "az" in at:
    az = at["az"]
    storage = icechunk.azure_storage(account=az["account"], container=az["container"], prefix=az["prefix"],
                                     access_key=az["key"], config={"endpoint": az["endpoint"], "allow_http": "true"})
else:
    s3 = at["s3"]
    storage = icechunk.s3_storage(bucket=s3["bucket"], prefix=s3["prefix"], endpoint_url=s3["endpoint"],
                                  region=s3["region"], access_key_id=s3["key"], secret_access_key=s3["secret"],
                                  allow_http=True, force_path_style=True)
repo = icechunk.Repository.open(storage)
out = {"ancestry": [], "at": {}}
for snap in repo.ancestry(branch=branch):
    out["ancestry"].append({"id": snap.id, "message": snap.message})
    arrays = {}
    out["at"][snap.id] = arrays
    try:
        root = zarr.open_group(repo.readonly_session(snapshot_id=snap.id).store, mode="r")
    except zarr.errors.GroupNotFoundError:
        continue  # the repository's first commit: nothing in it yet
    for name in names:
        try:
            a = root[name]
        except KeyError:
            continue
        arrays[name] = {"shape": list(a.shape), "values": a[...].tolist()}
print(json.dumps(out))
`;

export function history(at: RepoAt, names: string[], branch = "main"): History {
  return runIcechunkPython<History>(READ_HISTORY, [JSON.stringify(at), branch, JSON.stringify(names)]);
}

/**
 * Rows [writer, batch, row] (as the writer fixture writes them) checked to be whole
 * batches, in order within each; returns "writer:batch" per batch found.
 */
export function batchesIn(values: number[][]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; ) {
    const [w, k] = values[i] as [number, number];
    const n = 1 + ((w + k) % 3);
    for (let r = 0; r < n; r++) expect(values[i + r], `row ${i + r}`).toEqual([w, k, r]);
    out.push(`${w}:${k}`);
    i += n;
  }
  return out;
}

const live = new Set<ChildProcess>();
afterAll(() => {
  for (const child of live) child.kill("SIGKILL");
});

export interface Writer {
  child: ChildProcess;
  /** Batches whose save resolved, as the writer printed them. */
  acknowledged: number[];
  /** Settles at the first acknowledged batch (or the writer's end). */
  firstLine: Promise<void>;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>;
}

/** A process appending `batches` batches of writer `writer` to the array "log" of the repository at `at`. */
export function startWriter(at: RepoAt, writer: number, batches: number): Writer {
  const { filePath, storageOptions } = saverTarget(at);
  const args = [WRITER, filePath, "log", String(writer), String(batches)];
  if (storageOptions) args.push(JSON.stringify(storageOptions));
  return spawnWriter(args);
}

/** A process appending `batches` batches of writer `writer` to arrays "a" and "b" of group "g" of a local repository. */
export function startGroupWriter(repo: string, writer: number, batches: number): Writer {
  return spawnWriter([GROUP_WRITER, repo, String(writer), String(batches)]);
}

function spawnWriter(args: string[]): Writer {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  const acknowledged: number[] = [];
  let out = "";
  let err = "";
  let first!: () => void;
  const firstLine = new Promise<void>((r) => {
    first = r;
  });
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line !== "done") acknowledged.push(Number(line));
      first();
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) => {
    child.on("close", (code, signal) => {
      live.delete(child);
      first();
      resolve({ code, signal, err });
    });
  });
  return { child, acknowledged, firstLine, closed };
}
