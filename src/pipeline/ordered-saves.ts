/**
 * The sink of results that come back to this process: units of `chunkSize` items,
 * their results put back in item order and handed to the saver in batches of
 * exactly `saveInterval`, one save at a time, while computing goes on (or kept
 * for `getResults()` without a saver). A resumed run starts after the rows the
 * dataset holds: saves append in item order, so those are the first items'.
 */
import type { SaveData } from "../convert.js";
import type { SaveOptions } from "../options.js";
import type { Saver } from "../saver.js";
import type { Sink, SinkEvents, Step } from "./dispatch.js";
import { TaskFailedError } from "./errors.js";
import type { ItemSource } from "./input.js";
import type { Unit } from "./task.js";

interface Batch<R> {
  start: number;
  data: R[];
}

export interface OrderedSavesOptions {
  /** Without a saver, results are collected in memory (see {@link OrderedSaves.results}). */
  saver: Saver | undefined;
  saveInterval: number;
  saveOptions: SaveOptions | undefined;
  /** Batches waiting behind the running save before {@link OrderedSaves.isFull} turns true. */
  maxPendingSaves: number;
  /** Items per unit. */
  chunkSize: number;
  /** With `resume`: the rows the dataset already holds (0 when it does not exist). */
  heldRows: (() => Promise<number>) | undefined;
  /** The loop, told of every finished save and of a failed one. */
  events: SinkEvents;
}

export class OrderedSaves<I, R> implements Sink<I, Unit<I>, R[]> {
  /** Index of the first item whose result has not arrived in order yet. */
  nextInOrder = 0;
  /** Items saved so far. */
  saved = 0;
  /** Saves completed so far. */
  saves = 0;
  /** Time spent inside `saver.save`, summed. */
  saveMs = 0;
  /** Results in item order, when there is no saver. */
  readonly results: R[] = [];

  readonly #options: OrderedSavesOptions;
  /** Results that arrived ahead of `nextInOrder`, by the index of their first item. */
  readonly #early = new Map<number, R[]>();
  /** In-order results not yet a full batch; the first is item `#readyStart`. */
  #ready: R[] = [];
  #readyStart = 0;
  readonly #queue: Batch<R>[] = [];
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: OrderedSavesOptions) {
    this.#options = options;
  }

  /** Units of `chunkSize` items; resuming, the items the dataset holds are one held step first. */
  async *plan(source: ItemSource<I>): AsyncGenerator<Step<Unit<I>>, void, undefined> {
    const held = (await this.#options.heldRows?.()) ?? 0;
    if (held > 0) {
      await source.skip(held);
      this.nextInOrder = held;
      this.#readyStart = held;
      yield { held: { start: 0, count: held } };
    }
    for (;;) {
      const start = source.position;
      const items = await source.take(this.#options.chunkSize);
      if (items.length === 0) return;
      yield { run: { start, items } };
    }
  }

  /** True when enough batches wait for the saver that the dispatcher should pause. */
  get isFull(): boolean {
    return this.#queue.length >= this.#options.maxPendingSaves;
  }

  /** Results of the unit's items, in any order of arrival between calls. */
  put(unit: Unit<I>, results: R[]): void {
    if (this.#stopped) return;
    this.#early.set(unit.start, results);
    for (let next = this.#early.get(this.nextInOrder); next !== undefined; next = this.#early.get(this.nextInOrder)) {
      this.#early.delete(this.nextInOrder);
      this.#accept(next);
    }
  }

  #accept(results: R[]): void {
    this.nextInOrder += results.length;
    if (this.#options.saver === undefined) {
      for (const r of results) this.results.push(r);
      return;
    }
    const interval = this.#options.saveInterval;
    for (const r of results) {
      this.#ready.push(r);
      if (this.#ready.length === interval) this.#cut();
    }
    this.#pump();
  }

  #cut(): void {
    this.#queue.push({ start: this.#readyStart, data: this.#ready });
    this.#readyStart += this.#ready.length;
    this.#ready = [];
  }

  /** Start the next save when none is running. */
  #pump(): void {
    const saver = this.#options.saver;
    if (saver === undefined || this.#running !== undefined || this.#stopped) return;
    const batch = this.#queue.shift();
    if (batch === undefined) return;
    const began = performance.now();
    this.#running = (async () => saver.save(batch.data as SaveData, this.#options.saveOptions))().then(
      () => {
        this.saveMs += performance.now() - began;
        this.saved += batch.data.length;
        this.saves += 1;
        this.#running = undefined;
        this.#pump();
        this.#options.events.saved();
      },
      (cause: unknown) => {
        this.#running = undefined;
        this.#stopped = true;
        this.#queue.length = 0;
        this.#options.events.fail(new TaskFailedError({ stage: "save", index: batch.start, count: batch.data.length, cause }));
      },
    );
  }

  /** Save the remainder (a batch shorter than saveInterval) and wait for every save. */
  async finish(): Promise<void> {
    if (this.#ready.length > 0) this.#cut();
    this.#pump();
    while (this.#running !== undefined) await this.#running;
  }

  /** Accept nothing more and start no other save (the running one goes on); synchronous, for the moment of a failure. */
  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
    this.#early.clear();
  }

  /** {@link stop}, then wait for the save already running (its outcome no longer matters). */
  async abort(): Promise<void> {
    this.stop();
    while (this.#running !== undefined) await this.#running;
  }
}
