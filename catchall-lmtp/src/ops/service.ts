// Puts the collector together: sinks → delivery (direct, or spool when a maildir is configured) →
// LMTP listener, plus the metrics/health endpoint; and takes it apart again in the safe order.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Delivery } from '../delivery/delivery.js';
import { DirectDelivery } from '../delivery/direct.js';
import { LmtpServer, type ListenAddress } from '../lmtp/server.js';
import type { Sink } from '../sinks/sink.js';
import { OpsServer } from './http.js';
import { Metrics } from './metrics.js';

export interface ServiceDeps {
  logger: Logger;
  sinks: Sink[];
  /** Builds the spool-mode delivery when `config.spool.dir` is set. */
  createSpool?: (dir: string, sinks: Sink[], metrics: Metrics) => Promise<Delivery>;
  metrics?: Metrics;
}

export class CollectorService {
  readonly metrics: Metrics;
  private delivery?: Delivery;
  private lmtp?: LmtpServer;
  private ops?: OpsServer;
  lmtpAddress?: ListenAddress;
  metricsPort?: number;

  constructor(
    private readonly config: Config,
    private readonly deps: ServiceDeps,
  ) {
    this.metrics = deps.metrics ?? new Metrics({ defaultMetrics: true });
  }

  async start(): Promise<void> {
    const { config, deps } = this;
    const { logger, sinks } = deps;
    this.metrics.watchSinks(sinks);
    // Sinks connect in the background: an unreachable broker is retried, never fatal.
    await Promise.all(sinks.map((s) => s.start()));
    if (config.spool.dir) {
      if (!deps.createSpool) throw new Error('spool mode is not available');
      this.delivery = await deps.createSpool(config.spool.dir, sinks, this.metrics);
    } else {
      this.delivery = new DirectDelivery(sinks, this.metrics);
    }
    const delivery = this.delivery;
    if (config.metrics.enabled) {
      this.ops = new OpsServer(this.metrics, () => this.readiness(), logger);
      this.metricsPort = await this.ops.start(config.metrics.host, config.metrics.port);
    }
    this.lmtp = new LmtpServer({ ...config.lmtp, delivery, logger, metrics: this.metrics });
    this.lmtpAddress = await this.lmtp.start();
    logger.info({ mode: config.spool.dir ? 'spool' : 'direct', sinks: sinks.map((s) => s.name), lmtp: this.lmtpAddress }, 'collector started');
  }

  readiness(): { ready: boolean; reason?: string } {
    if (!this.lmtp?.isListening()) return { ready: false, reason: 'LMTP listener not bound' };
    return this.delivery?.isReady() ?? { ready: false, reason: 'starting' };
  }

  /** Stop accepting, finish messages in progress, wait for outstanding confirms, close everything. */
  async stop(): Promise<void> {
    const { logger, sinks } = this.deps;
    logger.info('stopping: no new connections, finishing messages in progress');
    await this.lmtp?.stop();
    await this.delivery?.close();
    await Promise.allSettled(sinks.map((s) => s.close()));
    await this.ops?.stop();
    logger.info('stopped');
  }
}
