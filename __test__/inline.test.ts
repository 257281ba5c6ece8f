import { describe, expect, it } from "vitest";
import { INLINE_MAX_BYTES, mayRunInline, ranInline, runsInline } from "../src/inline.js";
import type { ArrayJob } from "../src/jobs.js";
import type { NativeDestination, NativeSaveOptions } from "../src/native.js";

const request = (approach = "append") => ({ approach, dataset: "d" }) as unknown as NativeSaveOptions;
const destination = (location = "/data/x.zarr", durable = false) => ({ location, durable }) as NativeDestination;

const job = (key: string, bytes = 800): ArrayJob =>
  ({
    resolved: { destination: destination(), request: request(), key, inline: true },
    packed: { dtype: "float64", shape: [1], bytes: new Uint8Array(bytes) },
  }) as unknown as ArrayJob;

describe("which saves run on the JS thread", () => {
  it("local, non-durable appends only", () => {
    expect(mayRunInline(destination(), request())).toBe(true);
    expect(mayRunInline(destination(), request("update"))).toBe(false);
    expect(mayRunInline(destination("/data/x.zarr", true), request())).toBe(false);
    expect(mayRunInline(destination("s3://bucket/x.zarr"), request())).toBe(false);
  });

  it("with small data and nothing to cancel or report", () => {
    expect(runsInline(job("a"))).toBe(true);
    expect(runsInline(job("a", INLINE_MAX_BYTES + 8))).toBe(false);
    expect(runsInline({ ...job("a"), onProgress: () => {} })).toBe(false);
    expect(runsInline({ ...job("a"), signal: new AbortController().signal })).toBe(false);
    expect(runsInline({ ...job("a"), resolved: { ...job("a").resolved, inline: false } })).toBe(false);
  });

  it("a dataset whose inline saves are slow on average goes off the thread for a while; one slow save does not", () => {
    ranInline("b", 0.5);
    ranInline("b", 30);
    expect(runsInline(job("b"))).toBe(true);
    ranInline("b", 30);
    const next = Array.from({ length: 65 }, () => runsInline(job("b")));
    expect(next.slice(0, 64).every((inline) => !inline)).toBe(true);
    expect(next[64]).toBe(true);
  });
});
