// The task of the runtime smoke program's TaskManager run, loaded by each worker thread.
export default class SquareTask {
  processItem(x) {
    return x * x;
  }
}
