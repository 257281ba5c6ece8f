// The portable suite's worker-thread task: squares a number.
export default class SquareTask {
  processItem(x) {
    return x * x;
  }
}
