// Reconnect delays: exponential backoff with "full jitter" (a uniform random delay between 0 and the
// exponential cap), so that many clients cut off by one broker restart do not reconnect in lockstep.

export interface BackoffOptions {
  /** Cap of the first delay. */
  initialDelayMs: number;
  /** The cap stops doubling here. */
  maxDelayMs: number;
}

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {
    if (!(opts.initialDelayMs > 0) || !(opts.maxDelayMs >= opts.initialDelayMs)) {
      throw new RangeError(`reconnect delays need 0 < initialDelayMs <= maxDelayMs, got ${opts.initialDelayMs} and ${opts.maxDelayMs}`);
    }
  }

  /** The delay before the next attempt; each call doubles the cap until maxDelayMs. */
  next(): number {
    // 2 ** 30 is far beyond any sane cap; limiting the exponent keeps the arithmetic finite.
    const cap = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * cap);
  }

  /** Back to the first, shortest delay (after a connection that worked). */
  reset(): void {
    this.attempt = 0;
  }
}
