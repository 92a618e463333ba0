// A level-triggered signal: wake() is remembered until clear(), so a wake that happens before
// someone waits is not lost (e.g. new mail reported while a collection pass is still running).
export class Wakeup {
  private woken = false;
  private waiters = new Set<() => void>();

  wake(): void {
    this.woken = true;
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  clear(): void {
    this.woken = false;
  }

  /** Resolves true when woken, false after `timeoutMs`. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.woken) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.woken);
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiters.add(done);
    });
  }
}
