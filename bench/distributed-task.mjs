// The tasks of bench/distributed.mjs (W7), run by queue workers and, for the
// in-process reference, by worker threads.

/** CPU-bound: a noisy logistic map seeded by the item, 4 summary numbers (about 1 ms per item here). */
export default class CpuTask {
  processItem(seed) {
    let x = ((seed * 2654435761) % 2 ** 32) / 2 ** 32 || 0.5;
    const r = 3.57 + ((seed % 1000) / 1000) * 0.43;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < 200_000; i++) {
      x = r * x * (1 - x);
      sum += x;
      if (x > max) max = x;
    }
    return new Float64Array([seed, x, sum / 200_000, max]);
  }
}
