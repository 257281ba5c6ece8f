/**
 * A test gateway that lets the GCS XML API reach fake-gcs-server.
 *
 * object_store's GCS client (the saver's, and Icechunk's) uploads through the XML API,
 * and fake-gcs-server sends XML uploads to its JSON handler ("400 invalid uploadType").
 * This gateway, on 127.0.0.1 in front of a real fake-gcs-server, turns those calls into
 * JSON API calls and passes every other request through with the upstream's Host (the
 * only Host its XML routes answer):
 *
 * - `PUT /{bucket}/{object}`: a JSON `uploadType=multipart` upload, with
 *   `x-goog-if-generation-match` as `ifGenerationMatch` (412 when it fails); the reply
 *   carries `ETag` and `x-goog-generation`, as GCS's does;
 * - `PUT` with `x-goog-copy-source`: the source read and uploaded again, with the
 *   precondition (fake-gcs-server's own copy calls ignore it);
 * - XML multipart uploads (`POST ?uploads`, `PUT ?partNumber&uploadId`,
 *   `POST ?uploadId`, `DELETE ?uploadId`): parts are kept here, and the completed
 *   object is uploaded whole;
 * - reads passed through honour `If-Match` and `If-None-Match`, which fake-gcs-server's
 *   XML reads ignore, and a list of a missing bucket is 404, where fake-gcs-server fails
 *   with a 500.
 *
 * With `bearerToken`, a request without `Authorization: Bearer <token>` is answered 401,
 * as GCS answers a token it does not accept (fake-gcs-server checks none).
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

export interface GcsGatewayOptions {
  /** When set, the only token accepted. */
  bearerToken?: string;
  /** Called with the kind of every request answered (what `counts` counts). */
  onCount?: (kind: string) => void;
}

export interface GcsGateway {
  /** The gateway's base URL: the `baseUrl` of a `gs://` client. */
  endpoint: string;
  /** Requests answered so far, by kind: "put", "put 412", "copy", "multipart complete", "pass"... */
  counts: Map<string, number>;
  close(): Promise<void>;
}

interface Upload {
  bucket: string;
  object: string;
  contentType: string | undefined;
  metadata: Record<string, string>;
}

/** What the gateway needs of fake-gcs-server's JSON object resource. */
interface ObjectResource {
  generation: string;
  etag: string;
}

type Uploaded = { status: number; object?: ObjectResource; text: string };

const XML = { "content-type": "application/xml; charset=UTF-8" };
const PRECONDITION = "At least one of the pre-conditions you specified did not hold.";

const escapeXml = (s: string): string =>
  s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] as string);

/** A GCS-style XML error reply. */
function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, XML)
    .end(`<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`);
}

/** The XML error for a JSON API failure of the upstream. */
function upstreamError(res: ServerResponse, status: number, text: string): void {
  if (status === 412) xmlError(res, 412, "PreconditionFailed", PRECONDITION);
  else if (status === 404) xmlError(res, 404, "NoSuchKey", "The specified bucket or key does not exist.");
  else xmlError(res, status, "UpstreamError", text);
}

/** Whether `etag` is one of the comma-separated `list` (or the list is `*`). */
function etagIn(etag: string, list: string): boolean {
  const bare = (t: string): string => t.trim().replace(/^W\//, "");
  return list.trim() === "*" || list.split(",").some((t) => bare(t) === bare(etag));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `x-goog-meta-*` request headers as an object's custom metadata. */
function customMetadata(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith("x-goog-meta-") && typeof v === "string") out[k.slice("x-goog-meta-".length)] = v;
  }
  return out;
}

/**
 * Start a gateway on a free port of 127.0.0.1 in front of fake-gcs-server at `upstream`
 * (whose `-public-host` is the URL's host).
 */
export async function startGcsGateway(upstream: string, options: GcsGatewayOptions = {}): Promise<GcsGateway> {
  const target = new URL(upstream);
  const counts = new Map<string, number>();
  const count = (kind: string): void => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    options.onCount?.(kind);
  };
  const multiparts = new Map<string, Upload & { parts: Map<number, { etag: string; body: Buffer }> }>();

  /** A JSON `uploadType=multipart` upload of `body`, conditional when `ifGenerationMatch` is set. */
  const upload = async (up: Upload, body: Buffer, ifGenerationMatch: string | undefined): Promise<Uploaded> => {
    const query = new URLSearchParams({ uploadType: "multipart" });
    if (ifGenerationMatch !== undefined) query.set("ifGenerationMatch", ifGenerationMatch);
    const meta: Record<string, unknown> = { name: up.object };
    if (up.contentType) meta.contentType = up.contentType;
    if (Object.keys(up.metadata).length > 0) meta.metadata = up.metadata;
    const boundary = `gateway-${randomUUID()}`;
    const related = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(meta)}\r\n`),
      Buffer.from(`--${boundary}\r\ncontent-type: ${up.contentType ?? "application/octet-stream"}\r\n\r\n`),
      body,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${target.origin}/upload/storage/v1/b/${encodeURIComponent(up.bucket)}/o?${query}`, {
      method: "POST",
      headers: { "content-type": `multipart/related; boundary=${boundary}` },
      body: related,
    });
    const text = await res.text();
    return res.ok ? { status: res.status, object: JSON.parse(text) as ObjectResource, text } : { status: res.status, text };
  };

  /** Answer an upload as GCS's XML API does: `ETag` and `x-goog-generation`, or the failure. */
  const replyUploaded = (res: ServerResponse, result: Uploaded, kind: string, xmlBody?: (etag: string) => string): void => {
    if (!result.object) {
      count(`${kind} ${result.status}`);
      upstreamError(res, result.status, result.text);
      return;
    }
    count(kind);
    // The ETag fake-gcs-server's XML reads report for the object, so If-Match agrees
    const etag = `"${result.object.etag}"`;
    const headers = { etag, "x-goog-generation": result.object.generation };
    if (xmlBody) res.writeHead(200, { ...headers, ...XML }).end(xmlBody(etag));
    else res.writeHead(200, { ...headers, "content-length": "0" }).end();
  };

  const passThrough = (req: IncomingMessage, res: ServerResponse, body: Buffer, bucket: string, object: string): void => {
    const forward = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (up) => {
        const etag = up.headers.etag;
        const ifMatch = req.headers["if-match"];
        const ifNoneMatch = req.headers["if-none-match"];
        const read = req.method === "GET" || req.method === "HEAD";
        if (read && etag !== undefined && (up.statusCode === 200 || up.statusCode === 206)) {
          if (ifMatch !== undefined && !etagIn(etag, ifMatch)) {
            up.resume();
            count("pass 412");
            xmlError(res, 412, "PreconditionFailed", PRECONDITION);
            return;
          }
          if (ifNoneMatch !== undefined && etagIn(etag, ifNoneMatch)) {
            up.resume();
            count("pass 304");
            res.writeHead(304, { etag }).end();
            return;
          }
        }
        if (up.statusCode === 500 && object === "" && bucket !== "") {
          // fake-gcs-server fails a list of a missing bucket with a 500 (which clients
          // retry); GCS answers 404.
          up.resume();
          bucketExists(bucket).then(
            (exists) => {
              if (exists) xmlError(res, 500, "InternalError", "fake-gcs-server failed the request");
              else xmlError(res, 404, "NoSuchBucket", "The specified bucket does not exist.");
            },
            (e: unknown) => xmlError(res, 502, "BadGateway", String(e)),
          );
          return;
        }
        count("pass");
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    forward.on("error", (e) => xmlError(res, 502, "BadGateway", e.message));
    forward.end(body);
  };

  const bucketExists = async (bucket: string): Promise<boolean> =>
    (await fetch(`${target.origin}/storage/v1/b/${encodeURIComponent(bucket)}`)).ok;

  /** The XML multipart calls on `object`, kept here until completed (or aborted). */
  const multipart = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    up: Upload,
    q: URLSearchParams,
  ): Promise<void> => {
    if (req.method === "POST" && q.has("uploads")) {
      const uploadId = randomUUID();
      multiparts.set(uploadId, { ...up, parts: new Map() });
      count("multipart start");
      const [b, k] = [escapeXml(up.bucket), escapeXml(up.object)];
      res
        .writeHead(200, XML)
        .end(
          `<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult><Bucket>${b}</Bucket><Key>${k}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        );
      return;
    }
    const uploadId = q.get("uploadId") as string;
    const started = multiparts.get(uploadId);
    if (!started || started.bucket !== up.bucket || started.object !== up.object) {
      xmlError(res, 404, "NoSuchUpload", "The specified multipart upload does not exist.");
      return;
    }
    if (req.method === "PUT" && q.has("partNumber")) {
      const etag = `"${createHash("md5").update(body).digest("hex")}"`;
      started.parts.set(Number(q.get("partNumber")), { etag, body });
      count("multipart part");
      res.writeHead(200, { etag, "content-length": "0" }).end();
    } else if (req.method === "DELETE") {
      multiparts.delete(uploadId);
      count("multipart abort");
      res.writeHead(204).end();
    } else if (req.method === "POST") {
      // The completion names the parts to join, in order, by number and ETag.
      const named = [...body.toString().matchAll(/<Part>\s*<ETag>([^<]*)<\/ETag>\s*<PartNumber>(\d+)<\/PartNumber>/g)];
      const parts = named.map(([, etag, n]) => ({ etag, part: started.parts.get(Number(n)) }));
      if (parts.length === 0 || parts.some(({ etag, part }) => part?.etag !== etag)) {
        xmlError(res, 400, "InvalidPart", "One or more of the specified parts could not be found.");
        return;
      }
      const whole = Buffer.concat(parts.map(({ part }) => part?.body as Buffer));
      const result = await upload(started, whole, req.headers["x-goog-if-generation-match"] as string | undefined);
      if (result.object) multiparts.delete(uploadId);
      const [b, k] = [escapeXml(up.bucket), escapeXml(up.object)];
      replyUploaded(
        res,
        result,
        "multipart complete",
        (etag) =>
          `<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Bucket>${b}</Bucket><Key>${k}</Key><ETag>${escapeXml(etag)}</ETag></CompleteMultipartUploadResult>`,
      );
    } else {
      xmlError(res, 405, "MethodNotAllowed", `${req.method} with an uploadId`);
    }
  };

  /** A copy: the source read whole, uploaded to `up` with the request's precondition. */
  const copy = async (req: IncomingMessage, res: ServerResponse, up: Upload): Promise<void> => {
    const source = decodeURIComponent(req.headers["x-goog-copy-source"] as string).replace(/^\//, "");
    const slash = source.indexOf("/");
    const from = `${target.origin}/storage/v1/b/${encodeURIComponent(source.slice(0, slash))}/o/${encodeURIComponent(source.slice(slash + 1))}`;
    const [meta, media] = await Promise.all([fetch(from), fetch(`${from}?alt=media`)]);
    if (!meta.ok || !media.ok) {
      count(`copy ${meta.ok ? media.status : meta.status}`);
      upstreamError(res, meta.ok ? media.status : meta.status, await (meta.ok ? media : meta).text());
      return;
    }
    const { contentType, metadata = {} } = (await meta.json()) as { contentType?: string; metadata?: Record<string, string> };
    const bytes = Buffer.from(await media.arrayBuffer());
    const precondition = req.headers["x-goog-if-generation-match"] as string | undefined;
    const result = await upload({ ...up, contentType, metadata }, bytes, precondition);
    replyUploaded(
      res,
      result,
      "copy",
      (etag) => `<?xml version='1.0' encoding='UTF-8'?><CopyObjectResult><ETag>${escapeXml(etag)}</ETag></CopyObjectResult>`,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    if (options.bearerToken !== undefined && req.headers.authorization !== `Bearer ${options.bearerToken}`) {
      count("401");
      xmlError(res, 401, "AuthenticationRequired", "Invalid Credentials");
      return;
    }
    const url = new URL(req.url ?? "/", "http://gateway");
    // object_store percent-encodes the whole object name, "/" included
    const [, bucket = "", ...rest] = url.pathname.split("/").map(decodeURIComponent);
    const up: Upload = {
      bucket,
      object: rest.join("/"),
      contentType: req.headers["content-type"],
      metadata: customMetadata(req),
    };
    const q = url.searchParams;
    if (up.object !== "" && (q.has("uploads") || q.has("uploadId"))) await multipart(req, res, body, up, q);
    else if (up.object !== "" && req.method === "PUT" && req.headers["x-goog-copy-source"] !== undefined)
      await copy(req, res, up);
    else if (up.object !== "" && req.method === "PUT") {
      replyUploaded(res, await upload(up, body, req.headers["x-goog-if-generation-match"] as string | undefined), "put");
    } else passThrough(req, res, body, up.bucket, up.object);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) res.destroy();
      else xmlError(res, 500, "InternalError", String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { endpoint, counts, close };
}

interface ThreadData {
  gcsGateway?: { upstream: string; bearerToken?: string };
}

/**
 * The gateway in a worker thread of its own, so that a call that blocks the caller's
 * thread (`saveSync`) does not stall the gateway it waits for. Node runs no TypeScript:
 * the thread runs this module transpiled with the project's TypeScript.
 */
export async function startGcsGatewayThread(upstream: string, options: { bearerToken?: string } = {}): Promise<GcsGateway> {
  const { default: ts } = await import("typescript");
  const source = readFileSync(join(import.meta.dirname, "gcs-gateway.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const dir = mkdtempSync(join(tmpdir(), "zarr-saver-gcs-gateway-"));
  const file = join(dir, "gcs-gateway.mjs");
  writeFileSync(file, outputText);
  const data: ThreadData = { gcsGateway: { upstream, ...options } };
  const worker = new Worker(file, { workerData: data });
  const counts = new Map<string, number>();
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      worker.on("message", (m: { count?: string; endpoint?: string }) => {
        if (m.count !== undefined) counts.set(m.count, (counts.get(m.count) ?? 0) + 1);
        if (m.endpoint !== undefined) resolve(m.endpoint);
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the gateway's thread exited (${code}) before listening`)));
    });
    return {
      endpoint,
      counts,
      close: async () => {
        await worker.terminate();
      },
    };
  } catch (e) {
    await worker.terminate();
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The entry of the gateway's thread (startGcsGatewayThread): serve until terminated.
const thread = isMainThread ? undefined : (workerData as ThreadData | undefined)?.gcsGateway;
if (thread && parentPort) {
  const port = parentPort;
  const gateway = await startGcsGateway(thread.upstream, {
    bearerToken: thread.bearerToken,
    onCount: (kind) => port.postMessage({ count: kind }),
  });
  port.postMessage({ endpoint: gateway.endpoint });
}
