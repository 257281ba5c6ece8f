// The large-result task of bench/distributed.mjs (W7): 64 KiB per item (8,192
// float64), a ramp that compresses well, so the disk holds little of the 1.3 GB.
export default class LargeTask {
  processItem(i) {
    const row = new Float64Array(8192);
    for (let k = 0; k < row.length; k++) row[k] = i + k;
    return row;
  }
}
