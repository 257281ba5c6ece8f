import { describe, expect, it } from "vitest";
import { INLINE_MAX_BYTES, ranInline, runsInline } from "../src/inline.js";
import type { ArrayJob } from "../src/jobs.js";

const job = (over: { bytes?: number; approach?: string; location?: string; durable?: boolean } = {}): ArrayJob =>
  ({
    destination: { location: over.location ?? "/data/x.zarr", durable: over.durable ?? false },
    request: { approach: over.approach ?? "append", dataset: "d" },
    packed: { dtype: "float64", shape: [1], bytes: new Uint8Array(over.bytes ?? 800) },
  }) as unknown as ArrayJob;

describe("which saves run on the JS thread", () => {
  it("small local appends only", () => {
    expect(runsInline("a", job())).toBe(true);
    expect(runsInline("a", job({ bytes: INLINE_MAX_BYTES + 8 }))).toBe(false);
    expect(runsInline("a", job({ approach: "update" }))).toBe(false);
    expect(runsInline("a", job({ durable: true }))).toBe(false);
    expect(runsInline("a", job({ location: "s3://bucket/x.zarr" }))).toBe(false);
  });

  it("a dataset whose inline saves are slow on average goes off the thread for a while; one slow save does not", () => {
    ranInline("b", 0.5);
    ranInline("b", 30);
    expect(runsInline("b", job())).toBe(true);
    ranInline("b", 30);
    const next = Array.from({ length: 65 }, () => runsInline("b", job()));
    expect(next.slice(0, 64).every((inline) => !inline)).toBe(true);
    expect(next[64]).toBe(true);
  });
});
