import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Blosc } from "../src/codecs.js";
import type { SaveOptions } from "../src/options.js";
import { RequestCache } from "../src/request-cache.js";

/** A cache and how many times it resolved a request. */
function counting() {
  const cache = new RequestCache<number>();
  let resolved = 0;
  const get = (options: unknown, { dataset = "d", dtype = "float64", exclusive = false } = {}) =>
    cache.resolve(dataset, "append", dtype as "float64", exclusive, options as SaveOptions, () => ++resolved);
  return { get, resolved: () => resolved };
}

describe("requests kept by the options they came from", () => {
  it("the same options, as one object or equal ones, resolve once", () => {
    const c = counting();
    const options = { chunks: [8192, 16], compressor: { name: "blosc", configuration: { cname: "lz4", clevel: 5 } } };
    expect(c.get(options)).toBe(1);
    expect(c.get(options)).toBe(1);
    expect(c.get(structuredClone(options))).toBe(1);
    expect(c.resolved()).toBe(1);
  });

  it("an object changed between saves, at any depth, is resolved again", () => {
    const c = counting();
    const options = { chunks: [8192, 16], compressor: { name: "blosc", configuration: { cname: "lz4", clevel: 5 } } };
    c.get(options);
    options.compressor.configuration.clevel = 9;
    expect(c.get(options)).toBe(2);
    options.chunks.push(1);
    expect(c.get(options)).toBe(3);
    const codec = new Blosc();
    c.get({ compressor: codec });
    (codec as { clevel: number }).clevel = 1;
    expect(c.get({ compressor: codec })).toBe(5);
  });

  it("values JSON would confuse stay apart: NaN and null, 0 and -0, a hole and undefined", () => {
    const c = counting();
    expect(c.get({ fillValue: Number.NaN })).toBe(1);
    expect(c.get({ fillValue: null })).toBe(2);
    expect(c.get({ fillValue: -0 })).toBe(3);
    expect(c.get({ fillValue: 0 })).toBe(4);
    expect(c.get({ fillValue: 10n })).toBe(5);
    expect(c.get({ fillValue: "10" })).toBe(6);
    expect(c.get({ fillValue: Number.NaN })).toBe(1);
    // A sparse array is never kept: resolved on every save.
    // biome-ignore lint/suspicious/noSparseArray: the case under test
    expect(c.get({ chunks: [1, , 2] })).toBe(7);
    // biome-ignore lint/suspicious/noSparseArray: the case under test
    expect(c.get({ chunks: [1, , 2] })).toBe(8);
    expect(c.get({ chunks: [1, undefined, 2] })).toBe(9);
  });

  it("options holding anything but plain data are resolved on every save", () => {
    const c = counting();
    const options = { chunks: new Uint32Array([4]), attributes: { when: new Map() } };
    expect(c.get(options)).toBe(1);
    expect(c.get(options)).toBe(2);
    expect(c.get(null)).toBe(3);
    expect(c.get(null)).toBe(4);
  });

  it("saves with indices are resolved every time", () => {
    const c = counting();
    const options = { indices: [3, 9000] };
    expect(c.get(options)).toBe(1);
    expect(c.get(options)).toBe(2);
  });

  it("a save's wiring is not part of its request", () => {
    const c = counting();
    c.get({ axis: 0 });
    expect(c.get({ axis: 0, signal: new AbortController().signal, onProgress: () => {} })).toBe(1);
    expect(c.resolved()).toBe(1);
  });

  it("the dataset, dtype and exclusiveness are part of the request", () => {
    const c = counting();
    c.get({});
    expect(c.get({}, { dataset: "e" })).toBe(2);
    expect(c.get({}, { dtype: "int32" })).toBe(3);
    expect(c.get({}, { exclusive: true })).toBe(4);
    expect(c.get({})).toBe(1);
  });

  it("keeps the 16 most recently used", () => {
    const c = counting();
    for (let axis = 0; axis < 16; axis++) c.get({ axis });
    c.get({ axis: 0 }); // now the most recent
    c.get({ axis: 16 }); // evicts axis 1
    expect(c.resolved()).toBe(17);
    expect(c.get({ axis: 0 })).toBe(1);
    expect(c.get({ axis: 1 })).toBe(18);
  });

  it("a request that fails to resolve is not kept", () => {
    const cache = new RequestCache<number>();
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error("bad options");
    };
    expect(() => cache.resolve("d", "append", "float64", false, { axis: -1 }, failing)).toThrow("bad options");
    expect(() => cache.resolve("d", "append", "float64", false, { axis: -1 }, failing)).toThrow("bad options");
    expect(calls).toBe(2);
  });

  it("reuses a request only for options equal to the ones it came from", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom(0, -0, 1, Number.NaN, null, undefined, true, false, "", "a", 1n),
        fc.array(tie("value"), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom("a", "b", "c"), tie("value"), { maxKeys: 3 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, json, (a, b) => {
        const c = counting();
        c.get({ attributes: a });
        const reused = c.get({ attributes: b }) === 1;
        if (reused) expect(isDeepStrictEqual(a, b)).toBe(true);
        // A copy equal to `b` (a clone loses a null prototype) gets `b`'s request.
        const copy = structuredClone(b);
        if (isDeepStrictEqual(copy, b)) expect(c.get({ attributes: copy })).toBe(c.get({ attributes: b }));
      }),
      { numRuns: 2000 },
    );
  });
});
