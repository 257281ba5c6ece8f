/** Progress of a `submitTasks` run: a callback, and a bar on a terminal. */

/** What `onProgress` receives. */
export interface Progress {
  /** Items computed so far (in any order). */
  done: number;
  /** Number of items, when known (an array, or the `total` option). */
  total?: number;
  /** Items whose results the saver has stored (0 without a saver). */
  saved: number;
}

/** Called after every computed chunk and every finished save. */
export type ProgressCallback = (progress: Progress) => void;

/** Redraws at most this often: a terminal can't show more, and writes cost. */
const REDRAW_MS = 100;

function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** One line, redrawn in place with `\r`: `[#####-----]  52% 52,000/100,000 items, 51,000 saved, 9,800 items/s, ETA 5s`. */
export function renderBar(progress: Progress, elapsedMs: number, columns: number): string {
  const rate = elapsedMs > 0 ? (progress.done * 1000) / elapsedMs : 0;
  const { total } = progress;
  const counts =
    total !== undefined
      ? `${formatCount(progress.done)}/${formatCount(total)} items, ${formatCount(progress.saved)} saved, ${formatCount(rate)} items/s, ETA ${formatSeconds(rate > 0 ? (total - progress.done) / rate : Number.POSITIVE_INFINITY)}`
      : `${formatCount(progress.done)} items, ${formatCount(progress.saved)} saved, ${formatCount(rate)} items/s`;
  if (total === undefined || total === 0) return counts.slice(0, columns - 1);
  const fraction = Math.min(1, progress.done / total);
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  // Sized from the total rather than the current text, so the bar doesn't jump as counts grow:
  // room for four numbers as wide as the total, the words, the percentage and the brackets.
  const reserved = 4 * formatCount(total).length + 39 + 8;
  const width = Math.max(0, Math.min(30, columns - 1 - reserved));
  const filled = Math.round(fraction * width);
  const bar = width > 0 ? `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ` : "";
  return `${bar}${percent} ${counts}`.slice(0, columns - 1);
}

/** A writable terminal stream, as far as the bar needs one. */
export interface BarStream {
  write(text: string): unknown;
  /** Terminal width; 0 (a terminal that doesn't say) or absent means 80. */
  columns?: number;
}

export interface ProgressReporterOptions {
  total: number | undefined;
  onProgress: ProgressCallback | undefined;
  /** Where to draw the bar; undefined for no bar. */
  bar: BarStream | undefined;
}

/** Feeds the callback every time, and the bar at most every {@link REDRAW_MS}. */
export class ProgressReporter {
  readonly #options: ProgressReporterOptions;
  readonly #began = performance.now();
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;
  #last: Progress = { done: 0, saved: 0 };

  constructor(options: ProgressReporterOptions) {
    this.#options = options;
  }

  report(done: number, saved: number): void {
    const progress: Progress = this.#options.total === undefined ? { done, saved } : { done, total: this.#options.total, saved };
    this.#last = progress;
    this.#options.onProgress?.(progress);
    const now = performance.now();
    if (this.#options.bar !== undefined && now - this.#lastDraw >= REDRAW_MS) this.#draw(now);
  }

  #draw(now: number): void {
    const stream = this.#options.bar;
    if (stream === undefined) return;
    this.#lastDraw = now;
    this.#drawn = true;
    stream.write(`\r${renderBar(this.#last, now - this.#began, stream.columns || 80)}\x1b[K`);
  }

  /** Final state of the bar, and a newline so later output starts on its own line. */
  end(): void {
    if (this.#options.bar === undefined) return;
    this.#draw(performance.now());
    if (this.#drawn) this.#options.bar.write("\n");
  }
}
