// The task of examples/pipeline.mjs, run in worker threads: the module's default
// export is the task class; each thread builds one and calls processItem per item.

/** A CPU-bound stand-in for a simulation: 4 summary features of a noisy logistic map seeded by the item. */
export default class LogisticMapTask {
  constructor() {
    this.steps = 10_000;
  }

  processItem(seed) {
    let x = ((seed * 2654435761) % 2 ** 32) / 2 ** 32 || 0.5;
    const r = 3.57 + ((seed % 1000) / 1000) * 0.43;
    let sum = 0;
    let sumSq = 0;
    let max = 0;
    for (let i = 0; i < this.steps; i++) {
      x = r * x * (1 - x);
      sum += x;
      sumSq += x * x;
      if (x > max) max = x;
    }
    const mean = sum / this.steps;
    return [r, mean, Math.sqrt(sumSq / this.steps - mean * mean), max];
  }
}
