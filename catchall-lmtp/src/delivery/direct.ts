// Direct mode: a recipient gets 250 only once every configured sink has confirmed the message
// (publisher confirm, written to an authenticated hpfeeds connection, fsynced maildir); otherwise
// 451 naming the sink that failed, and Postfix keeps the message queued and retries.
import type { Metrics } from '../ops/metrics.js';
import type { CollectedMessage, Sink } from '../sinks/sink.js';
import { sameForAll, type Delivery, type DeliveryOutcome } from './delivery.js';
import { publishToAll } from './publish.js';

export class DirectDelivery implements Delivery {
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly sinks: readonly Sink[],
    private readonly metrics: Metrics,
  ) {}

  async deliver(message: CollectedMessage): Promise<DeliveryOutcome> {
    const publishing = publishToAll(this.sinks, message, this.metrics);
    this.inFlight.add(publishing);
    try {
      const result = await publishing;
      if (result.ok) return { recipients: sameForAll(message, { code: 250, text: `OK ${message.sha256}` }), sinks: result.sinks };
      const reasons = result.failed.map((name) => `${name}: ${shorten(result.sinks[name]!)}`).join('; ');
      return { recipients: sameForAll(message, { code: 451, text: `Not delivered to ${reasons}; try again later` }), sinks: result.sinks };
    } finally {
      this.inFlight.delete(publishing);
    }
  }

  isReady(): { ready: boolean; reason?: string } {
    const down = this.sinks.filter((s) => !s.isReady()).map((s) => s.name);
    return down.length === 0 ? { ready: true } : { ready: false, reason: `sink not connected: ${down.join(', ')}` };
  }

  /** Waits for publishes in flight; closing the sinks is the owner's job (they may be shared). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}

/** A reply line must stay short and on one line; the full error is in the log. */
function shorten(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 160 ? line.slice(0, 157) + '...' : line;
}
