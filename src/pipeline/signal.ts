/** A wake-up call between the dispatcher and whatever frees it (a finished chunk, a finished save, a failure). */
export class Signal {
  #waiters: (() => void)[] = [];

  /** Resolves at the next {@link notify}. */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Wake every waiter; they re-check their condition. */
  notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
