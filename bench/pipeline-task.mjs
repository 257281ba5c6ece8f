// The task of bench/pipeline.mjs (W5), run in worker threads: the module's default
// export is the task class; each thread builds one and calls processItem per item.
import { valueAt } from "./lib/data.mjs";

const COLS = 16;

/**
 * CPU-light on purpose (16 sines and hashes, well under a microsecond), so that the
 * pipeline's own costs dominate: moving results between threads, putting them back in
 * order, and saving. Item `i` yields row `i` of the data every bench writes
 * (bench/lib/data.mjs), so the saved array can be checked against it.
 */
export default class RowTask {
  processItem(item) {
    const row = new Float64Array(COLS);
    const base = item * COLS;
    for (let c = 0; c < COLS; c++) row[c] = valueAt(base + c);
    return row;
  }
}
