/**
 * The test gateway that puts the GCS XML API in front of fake-gcs-server
 * (helpers/gcs-gateway.ts), spoken to over HTTP as object_store's GCS client speaks to
 * GCS, against a real fake-gcs-server on 127.0.0.1. What it must get right for the
 * gs:// tests to mean anything:
 *
 * - a create (`x-goog-if-generation-match: 0`) answers ETag and x-goog-generation, the
 *   ones a read of the object then reports; a second create is 412 and changes nothing;
 * - an update names the generation it read: a stale one is 412, the current one wins;
 * - a copy keeps the bytes and content type, and with `x-goog-if-generation-match: 0`
 *   does not replace an existing object;
 * - an XML multipart upload joins the parts the completion names, in its order; an
 *   aborted one is gone;
 * - lists, reads and deletes pass through to fake-gcs-server's XML API; reads honour
 *   If-Match and If-None-Match; a list of a missing bucket is 404 NoSuchBucket;
 * - with a bearer token set, any other token is refused with 401 and writes nothing.
 */
import { describe, expect, it } from "vitest";
import { useFakeGcs } from "./helpers/emulators.js";

const gcs = useFakeGcs({ buckets: ["bkt"] });

/** An object's XML API URL, its name fully percent-encoded as object_store sends it. */
const at = (name: string, query = ""): string => `${gcs().baseUrl}/bkt/${encodeURIComponent(name)}${query}`;
/** The object's bytes and generation as fake-gcs-server's JSON API reports them, or null. */
async function stored(name: string): Promise<{ body: string; generation: string; contentType: string } | null> {
  const url = `${gcs().endpoint}/storage/v1/b/bkt/o/${encodeURIComponent(name)}`;
  const meta = await fetch(url);
  if (meta.status === 404) return null;
  const { generation, contentType } = (await meta.json()) as { generation: string; contentType: string };
  return { body: await (await fetch(`${url}?alt=media`)).text(), generation, contentType };
}
const put = (name: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(at(name), { method: "PUT", headers: { "content-type": "application/octet-stream", ...headers }, body });

describe("the GCS XML API gateway", () => {
  it("creates with generation 0, answering the ETag and generation a read reports; a second create is 412", async () => {
    const created = await put("a/create.json", "first", { "x-goog-if-generation-match": "0" });
    expect(created.status).toBe(200);
    const etag = created.headers.get("etag");
    const generation = created.headers.get("x-goog-generation");
    expect(etag).toMatch(/^".+"$/);
    expect(generation).toMatch(/^\d+$/);
    const read = await fetch(at("a/create.json"));
    expect({ status: read.status, body: await read.text() }).toEqual({ status: 200, body: "first" });
    expect(read.headers.get("etag")).toBe(etag);
    expect(read.headers.get("x-goog-generation")).toBe(generation);

    const again = await put("a/create.json", "second", { "x-goog-if-generation-match": "0" });
    expect(again.status).toBe(412);
    expect(await again.text()).toContain("<Code>PreconditionFailed</Code>");
    expect(await stored("a/create.json")).toMatchObject({ body: "first", generation });
  });

  it("updates only at the generation read: a stale one is 412, the current one wins", async () => {
    const v1 = (await put("a/update.json", "v1", { "x-goog-if-generation-match": "0" })).headers.get("x-goog-generation");
    const v2 = await put("a/update.json", "v2", { "x-goog-if-generation-match": v1 as string });
    expect(v2.status).toBe(200);
    const g2 = v2.headers.get("x-goog-generation") as string;
    expect(g2).not.toBe(v1);
    // a writer still holding generation v1 lost the race
    const stale = await put("a/update.json", "v2'", { "x-goog-if-generation-match": v1 as string });
    expect(stale.status).toBe(412);
    expect(await stored("a/update.json")).toMatchObject({ body: "v2", generation: g2 });
    // an unconditional PUT overwrites
    expect((await put("a/update.json", "v3")).status).toBe(200);
    expect((await stored("a/update.json"))?.body).toBe("v3");
  });

  it("copies bytes and content type; with generation 0 it does not replace an object", async () => {
    await put("a/source", "copied bytes", { "content-type": "application/json" });
    const copy = (to: string, headers: Record<string, string> = {}) =>
      fetch(at(to), { method: "PUT", headers: { "x-goog-copy-source": `bkt/${encodeURIComponent("a/source")}`, ...headers } });
    const first = await copy("b/target", { "x-goog-if-generation-match": "0" });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-goog-generation")).toMatch(/^\d+$/);
    expect(await stored("b/target")).toMatchObject({ body: "copied bytes", contentType: "application/json" });

    await put("a/source", "changed");
    expect((await copy("b/target", { "x-goog-if-generation-match": "0" })).status).toBe(412);
    expect((await stored("b/target"))?.body).toBe("copied bytes");
    expect((await copy("b/target")).status).toBe(200);
    expect((await stored("b/target"))?.body).toBe("changed");

    const missing = await fetch(at("b/other"), { method: "PUT", headers: { "x-goog-copy-source": "bkt/no-such-object" } });
    expect(missing.status).toBe(404);
    expect(await stored("b/other")).toBeNull();
  });

  it("joins the parts of a multipart upload in the order the completion names; an aborted upload is gone", async () => {
    const start = async (name: string): Promise<string> => {
      const res = await fetch(at(name, "?uploads="), { method: "POST" });
      expect(res.status).toBe(200);
      return /<UploadId>([^<]+)<\/UploadId>/.exec(await res.text())?.[1] as string;
    };
    const part = async (name: string, id: string, n: number, body: string): Promise<string> => {
      const res = await fetch(at(name, `?partNumber=${n}&uploadId=${id}`), { method: "PUT", body });
      expect(res.status).toBe(200);
      return res.headers.get("etag") as string;
    };
    const id = await start("m/joined");
    // sent out of order, as concurrent part uploads arrive
    const e2 = await part("m/joined", id, 2, "-second");
    const e1 = await part("m/joined", id, 1, "first");
    const e3 = await part("m/joined", id, 3, "-third");
    expect(await stored("m/joined")).toBeNull(); // nothing visible before completion
    const completion = `<CompleteMultipartUpload>${[
      [e1, 1],
      [e2, 2],
      [e3, 3],
    ]
      .map(([e, n]) => `<Part><ETag>${e}</ETag><PartNumber>${n}</PartNumber></Part>`)
      .join("")}</CompleteMultipartUpload>`;
    const done = await fetch(at("m/joined", `?uploadId=${id}`), { method: "POST", body: completion });
    expect(done.status).toBe(200);
    const generation = done.headers.get("x-goog-generation");
    expect(generation).toMatch(/^\d+$/);
    expect(await done.text()).toMatch(/<CompleteMultipartUploadResult>.*<ETag>.+<\/ETag>/);
    expect(await stored("m/joined")).toMatchObject({ body: "first-second-third", generation });

    // a part ETag the upload does not hold: refused, nothing written
    const bad = await start("m/bad");
    await part("m/bad", bad, 1, "x");
    const refused = await fetch(at("m/bad", `?uploadId=${bad}`), {
      method: "POST",
      body: '<CompleteMultipartUpload><Part><ETag>"nope"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>',
    });
    expect(refused.status).toBe(400);
    expect(await stored("m/bad")).toBeNull();

    const aborted = await start("m/aborted");
    await part("m/aborted", aborted, 1, "x");
    expect((await fetch(at("m/aborted", `?uploadId=${aborted}`), { method: "DELETE" })).status).toBe(204);
    expect((await fetch(at("m/aborted", `?partNumber=2&uploadId=${aborted}`), { method: "PUT", body: "y" })).status).toBe(404);
    expect(await stored("m/aborted")).toBeNull();
  });

  it("passes lists, conditional reads and deletes through to fake-gcs-server", async () => {
    for (const name of ["l/one", "l/two", "l/sub/three"]) await put(name, name);
    const list = await fetch(`${gcs().baseUrl}/bkt?list-type=2&prefix=${encodeURIComponent("l/")}&delimiter=%2F`);
    expect(list.status).toBe(200);
    const xml = await list.text();
    expect([...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1])).toEqual(["l/one", "l/two"]);
    expect([...xml.matchAll(/<Prefix>([^<]+)<\/Prefix>/g)].map((m) => m[1])).toContain("l/sub/");

    const etag = (await fetch(at("l/one"), { method: "HEAD" })).headers.get("etag") as string;
    expect((await fetch(at("l/one"), { headers: { "if-match": etag } })).status).toBe(200);
    expect((await fetch(at("l/one"), { headers: { "if-match": '"stale"' } })).status).toBe(412);
    expect((await fetch(at("l/one"), { headers: { "if-none-match": etag } })).status).toBe(304);
    expect((await fetch(at("l/one"), { headers: { "if-none-match": '"stale"' } })).status).toBe(200);

    expect((await fetch(at("l/two"), { method: "DELETE" })).ok).toBe(true);
    expect(await stored("l/two")).toBeNull();
    expect((await fetch(at("l/two"))).status).toBe(404);
    expect((await fetch(at("l/two"), { method: "DELETE" })).status).toBe(404);

    const missing = await fetch(`${gcs().baseUrl}/no-such-bucket?list-type=2&prefix=`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain("<Code>NoSuchBucket</Code>");
  });
});

describe("the GCS XML API gateway with a bearer token", () => {
  const TOKEN = "gateway-test-token";
  const guarded = useFakeGcs({ buckets: ["bkt"], bearerToken: TOKEN });

  it("refuses any other token with 401 and writes nothing; the token passes", async () => {
    const url = `${guarded().baseUrl}/bkt/${encodeURIComponent("t/obj")}`;
    for (const authorization of [undefined, "Bearer wrong", `Bearer ${TOKEN}x`]) {
      const res = await fetch(url, { method: "PUT", headers: authorization ? { authorization } : {}, body: "x" });
      expect(res.status, String(authorization)).toBe(401);
    }
    expect((await fetch(`${guarded().endpoint}/storage/v1/b/bkt/o/${encodeURIComponent("t/obj")}`)).status).toBe(404);
    expect((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const ok = await fetch(url, { method: "PUT", headers: { authorization: `Bearer ${TOKEN}` }, body: "x" });
    expect(ok.status).toBe(200);
    expect(await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).text()).toBe("x");
  });
});
