// A level-triggered signal: wake() is remembered until clear(), so a wake that happens before
// someone waits is not lost (e.g. new mail reported while a collection pass is still running).
export class Wakeup {
  private woken = false;
  private readonly listeners = new Set<() => void>();

  wake(): void {
    this.woken = true;
    for (const listener of [...this.listeners]) listener();
  }

  clear(): void {
    this.woken = false;
  }

  /** Resolves when woken or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    return Wakeup.any([this], timeoutMs);
  }

  /**
   * Resolves when any of the signals is woken, `also` settles, or `timeoutMs` passes, whichever is
   * first; leaves no timer or listener behind (waits can be as long as a 29-minute session).
   */
  static any(signals: Wakeup[], timeoutMs: number, also?: Promise<unknown>): Promise<void> {
    if (signals.some((s) => s.woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const s of signals) s.listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      for (const s of signals) s.listeners.add(done);
      also?.then(done, done);
    });
  }
}
