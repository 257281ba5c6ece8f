/**
 * From the raw runs to the figures reported: per cell (workload x contender) the median
 * rate, peak RSS and event-loop delay; per workload the ratios of zarr-saver to each
 * baseline (the median of ratios taken pair by pair within a repetition, so that drift
 * of a noisy machine between repetitions cancels); the benchmark targets; what a
 * durable save costs.
 */
import { CONTENDERS } from "./contenders.mjs";

export const MB = 1e6;
const MiB = 2 ** 20;

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Figures of one cell from its runs (`{ rep, seconds, bytes, maxRssKiB, ... }`). */
export function summarizeCell(runs) {
  const ok = runs.filter((r) => r.seconds > 0);
  if (ok.length === 0) return undefined;
  const rates = ok.map((r) => r.bytes / MB / r.seconds);
  const loops = ok.map((r) => r.eventLoop).filter(Boolean);
  const capped = ok.find((r) => r.capped)?.capped;
  return {
    mbps: median(rates),
    seconds: median(ok.map((r) => r.seconds)),
    reps: ok.length,
    peakRssMiB: Math.max(...ok.map((r) => r.maxRssKiB ?? 0)) / 1024,
    rssBeforeMiB: median(
      ok
        .map((r) => r.rssBeforeKiB)
        .filter((x) => x !== undefined)
        .map((x) => x / 1024),
    ),
    eventLoop: loops.length
      ? {
          p99Ms: Math.max(...loops.map((l) => l.p99Ms)),
          p99MedianMs: median(loops.map((l) => l.p99Ms)),
          maxMs: Math.max(...loops.map((l) => l.maxMs)),
        }
      : undefined,
    capped: capped && { ...capped, done: median(ok.map((r) => r.capped?.done ?? capped.of)) },
  };
}

/** The per-repetition ratios ours[rep].rate / base[rep].rate. */
function perRepRatios(oursRuns, baseRuns) {
  const byRep = new Map(baseRuns.filter((r) => r.seconds > 0).map((r) => [r.rep, r.bytes / r.seconds]));
  return oursRuns.filter((r) => r.seconds > 0 && byRep.has(r.rep)).map((r) => r.bytes / r.seconds / byRep.get(r.rep));
}

/** Median over repetitions of ours[rep].rate / base[rep].rate. */
export function pairedRatio(oursRuns, baseRuns) {
  return median(perRepRatios(oursRuns, baseRuns));
}

/** `ranges[workload][ours][baseline] = [min, max]` of the per-repetition ratios. */
export function ratioRanges(workloads, runs) {
  const out = {};
  for (const w of workloads) {
    out[w.id] = {};
    for (const o of OURS) {
      out[w.id][o.name] = {};
      for (const b of BASELINES) {
        const r = perRepRatios(runs[w.id]?.[o.name] ?? [], runs[w.id]?.[b.name] ?? []);
        if (r.length) out[w.id][o.name][b.baseline] = [Math.min(...r), Math.max(...r)];
      }
    }
  }
  return out;
}

const BASELINES = CONTENDERS.filter((c) => c.baseline);
const OURS = CONTENDERS.filter((c) => c.ours);

/** `ratios[workload][ours][baseline]`. */
export function ratios(workloads, runs) {
  const out = {};
  for (const w of workloads) {
    out[w.id] = {};
    for (const o of OURS) {
      out[w.id][o.name] = {};
      for (const b of BASELINES) {
        const r = pairedRatio(runs[w.id]?.[o.name] ?? [], runs[w.id]?.[b.name] ?? []);
        if (r !== undefined) out[w.id][o.name][b.baseline] = r;
      }
    }
  }
  return out;
}

/**
 * What `durable: true` costs, per workload the durable contender ran beside
 * `zarr-saver-async`: its time over the plain save's for the same bytes (the plain
 * rate over the durable rate, so a capped run counts for the part it did), the median
 * of the per-repetition ratios and their range. Not a target: durability is paid for
 * in device flushes, which depend on the disk far more than on zarr-saver.
 */
export function durableCost(workloads, runs) {
  const out = {};
  for (const w of workloads) {
    const r = perRepRatios(runs[w.id]?.["zarr-saver-async"] ?? [], runs[w.id]?.["zarr-saver-durable"] ?? []);
    if (r.length) out[w.id] = { timeRatio: median(r), range: [Math.min(...r), Math.max(...r)], reps: r.length };
  }
  return out;
}

/** The benchmark targets, measured on zarr-saver's async `save` (W1 = blosc lz4). */
export function targets(cells, ratio, w1Bytes, ranges = {}, syscalls = undefined) {
  const w1 = "W1 blosc lz4";
  const ours = "zarr-saver-async";
  const list = [];
  const ratioTarget = (workload, baseline, goal) => {
    const value = ratio[workload]?.[ours]?.[baseline];
    const range = ranges[workload]?.[ours]?.[baseline];
    const spread = range && range[0] !== range[1] ? ` (repetitions: ${range[0].toFixed(2)}-${range[1].toFixed(2)})` : "";
    list.push({
      target: `${workload}: save >= ${goal}x ${baseline === "ceiling" ? "the direct-Rust ceiling" : baseline}`,
      goal: `>= ${goal}x`,
      value: value === undefined ? undefined : `${value.toFixed(2)}x${spread}`,
      met: value === undefined ? undefined : value >= goal,
    });
  };
  ratioTarget(w1, "zarrita", 20);
  ratioTarget(w1, "zarr-python", 2);
  ratioTarget(w1, "tensorstore", 2);
  ratioTarget(w1, "ceiling", 0.9);
  ratioTarget("W2 appends", "zarr-python", 10);
  ratioTarget("W2 appends", "tensorstore", 6);
  ratioTarget("W2 appends", "ceiling", 0.9);
  ratioTarget("W3 updates", "zarr-python", 3);
  if (syscalls) {
    const counted = syscalls[ours];
    list.push({
      target: "W2 appends: system calls per append of save <= 25 (strace -f)",
      goal: "<= 25",
      value: counted?.perAppend === undefined ? undefined : `${counted.perAppend} (futex wakes ${counted.futexWakes})`,
      met: counted?.perAppend === undefined ? undefined : counted.perAppend <= 25,
    });
  }
  const loop = cells[w1]?.[ours]?.eventLoop;
  list.push({
    target: `${w1}: event-loop delay p99 during save < 20 ms (worst repetition)`,
    goal: "< 20 ms",
    value: loop && `${loop.p99Ms.toFixed(1)} ms (max ${loop.maxMs.toFixed(1)} ms)`,
    met: loop ? loop.p99Ms < 20 : undefined,
  });
  const limitMiB = w1Bytes / MiB + 256;
  for (const name of ["zarr-saver-async", "zarr-saver-sync"]) {
    const peak = cells[w1]?.[name]?.peakRssMiB;
    list.push({
      target: `${w1}: peak RSS of the ${name === "zarr-saver-async" ? "save" : "saveSync"} process < input + 256 MiB (${limitMiB.toFixed(0)} MiB)`,
      goal: `< ${limitMiB.toFixed(0)} MiB`,
      value: peak && `${peak.toFixed(0)} MiB`,
      met: peak === undefined ? undefined : peak < limitMiB,
    });
  }
  return list;
}
