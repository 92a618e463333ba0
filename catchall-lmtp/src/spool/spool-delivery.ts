// Spool mode (-m DIR): a recipient gets 250 as soon as the message is durable in DIR/new (its batch
// flushed in the maildir's journal); the forwarder publishes it to every sink in the background and
// moves it to cur/ once all confirmed.
// The maildir is both the durable outbox and the local archive (with retention).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { sameForAll, type Delivery, type DeliveryOutcome } from '../delivery/delivery.js';
import type { Metrics } from '../ops/metrics.js';
import type { CollectedMessage, Sink } from '../sinks/sink.js';
import { Forwarder } from './forwarder.js';
import { SpoolStore } from './spool-store.js';

const PRUNE_INTERVAL_MS = 10 * 60_000;

export class SpoolDelivery implements Delivery {
  private writable = true;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly store: SpoolStore,
    readonly forwarder: Forwarder,
    private readonly logger: Logger,
    private readonly retention: { retentionDays: number; retentionCount: number },
  ) {}

  async start(): Promise<void> {
    await this.store.open();
    await this.prune();
    await this.forwarder.start();
    const checks = setInterval(() => void this.store.isWritable().then((w) => (this.writable = w)), 5_000);
    const pruning = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    this.timers.push(checks, pruning);
    for (const t of this.timers) t.unref();
  }

  async deliver(message: CollectedMessage): Promise<DeliveryOutcome> {
    const adding = this.store.add(message);
    this.inFlight.add(adding);
    try {
      const name = await adding;
      this.writable = true;
      this.forwarder.enqueue(name, message);
      return { recipients: sameForAll(message, { code: 250, text: `OK ${message.sha256} spooled` }), sinks: { spool: `spooled as ${name}` } };
    } catch (err) {
      this.writable = false;
      const reason = (err as Error).message;
      this.logger.error({ sha256: message.sha256, err }, 'cannot write to the spool');
      return { recipients: sameForAll(message, { code: 451, text: `Spool write failed (${reason.slice(0, 120)}); try again later` }), sinks: { spool: reason } };
    } finally {
      this.inFlight.delete(adding);
    }
  }

  isReady(): { ready: boolean; reason?: string } {
    return this.writable ? { ready: true } : { ready: false, reason: `spool ${this.store.dir} is not writable` };
  }

  /** Waits for messages being written and for publishes in flight; unconfirmed ones stay in new/. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.inFlight]);
    await this.forwarder.stop();
    await this.store.close();
  }

  private async prune(): Promise<void> {
    try {
      const removed = await this.store.prune(this.retention.retentionDays, this.retention.retentionCount);
      if (removed > 0) this.logger.info({ removed }, 'spool retention: removed forwarded messages');
    } catch (err) {
      this.logger.error({ err }, 'spool retention failed');
    }
  }
}

export async function createSpoolDelivery(deps: {
  dir: string;
  sinks: Sink[];
  metrics: Metrics;
  logger: Logger;
  options: Config['spool'];
}): Promise<SpoolDelivery> {
  const logger = deps.logger.child({ component: 'spool' });
  const store = new SpoolStore(deps.dir);
  const forwarder = new Forwarder(store, deps.sinks, deps.metrics, logger, {
    concurrency: deps.options.forwardConcurrency,
    replayIntervalMs: deps.options.replayIntervalMs,
  });
  deps.metrics.watchSpool(() => forwarder.depth);
  const delivery = new SpoolDelivery(store, forwarder, logger, deps.options);
  await delivery.start();
  return delivery;
}
