// Puts the IMAP collector together from the LMTP collector's parts: the same sinks, the same
// publish-to-all-and-wait (publishToAll), the same metrics registry and /metrics /healthz /readyz
// endpoint; plus one worker per mailbox. Takes it apart again in the safe order.
import { publishToAll } from 'catchall-lmtp/delivery/publish';
import { OpsServer, type Readiness } from 'catchall-lmtp/ops/http';
import { Metrics } from 'catchall-lmtp/ops/metrics';
import type { Sink } from 'catchall-lmtp/sinks/sink';
import type { Logger } from 'pino';
import type { MailboxConfig } from './mailboxes/schema.js';
import { MailboxWorker, type WorkerOutcome, type WorkerTiming } from './imap/mailbox-worker.js';
import { ImapMetrics } from './ops/imap-metrics.js';

export interface ImapCollectorOptions {
  mailboxes: MailboxConfig[];
  /** -a: every message in the mailbox, not only unseen ones. */
  fetchAll: boolean;
  /** -d: delete and expunge collected messages instead of marking them \Seen. */
  deleteAfter: boolean;
  /** -c: keep running, IDLE/poll for new mail, reconnect on failure. */
  continuous: boolean;
  /** Where each mailbox's UID state file lives. */
  stateDir: string;
  /** One-shot mode waits this long for the sinks to connect before it starts fetching. */
  sinkConnectWaitMs: number;
  metrics?: { host: string; port: number };
  timing?: Partial<WorkerTiming>;
}

export interface ImapCollectorDeps {
  logger: Logger;
  /** imapflow's protocol log (quiet unless -v). */
  imapLogger: Logger;
  sinks: Sink[];
  metrics?: Metrics;
}

export class ImapCollectorService {
  readonly metrics: Metrics;
  readonly logger: Logger;
  metricsPort?: number;
  private ops?: OpsServer;
  private workers: MailboxWorker[] = [];
  private running?: Promise<WorkerOutcome[]>;
  private stopping?: Promise<void>;

  constructor(
    private readonly o: ImapCollectorOptions,
    private readonly deps: ImapCollectorDeps,
  ) {
    this.metrics = deps.metrics ?? new Metrics({ defaultMetrics: true });
    this.logger = deps.logger;
  }

  /** Starts sinks, the ops endpoint and one worker per mailbox. */
  async start(): Promise<void> {
    const { logger, sinks } = this.deps;
    this.metrics.watchSinks(sinks);
    const imapMetrics = new ImapMetrics(this.metrics);
    // Sinks connect in the background: an unreachable broker is retried, never fatal.
    await Promise.all(sinks.map((s) => s.start()));
    if (this.o.metrics) {
      this.ops = new OpsServer(this.metrics, () => this.readiness(), logger);
      this.metricsPort = await this.ops.start(this.o.metrics.host, this.o.metrics.port);
    }
    // A one-shot run that starts before the brokers answer would only defer everything.
    if (!this.o.continuous) await this.waitForSinks(this.o.sinkConnectWaitMs);
    this.workers = this.o.mailboxes.map(
      (mailbox) =>
        new MailboxWorker({
          mailbox,
          fetchAll: this.o.fetchAll,
          deleteAfter: this.o.deleteAfter,
          continuous: this.o.continuous,
          stateDir: this.o.stateDir,
          deliver: (message) => publishToAll(sinks, message, this.metrics),
          sinksReady: () => sinks.every((s) => s.isReady()),
          logger,
          imapLogger: this.deps.imapLogger,
          timing: this.o.timing,
          metrics: imapMetrics,
        }),
    );
    this.running = Promise.all(this.workers.map((w) => w.run()));
    logger.info(
      { mailboxes: this.workers.map((w) => w.id), sinks: sinks.map((s) => s.name), continuous: this.o.continuous },
      'IMAP collector started',
    );
  }

  /** Resolves when every worker has finished: after one pass (one-shot) or after stop(). */
  async done(): Promise<WorkerOutcome[]> {
    return (await this.running) ?? [];
  }

  readiness(): Readiness {
    const down = this.deps.sinks.filter((s) => !s.isReady()).map((s) => s.name);
    return down.length === 0 ? { ready: true } : { ready: false, reason: `sink not connected: ${down.join(', ')}` };
  }

  /** Workers finish the message in hand and log out; then the sinks flush and close. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { logger, sinks } = this.deps;
    logger.info('stopping: finishing the message in hand on every mailbox');
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.running;
    await Promise.allSettled(sinks.map((s) => s.close()));
    await this.ops?.stop();
    logger.info('stopped');
  }

  private async waitForSinks(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.readiness().ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const r = this.readiness();
    if (!r.ready) this.deps.logger.warn({ reason: r.reason, waitedMs: timeoutMs }, 'starting although not every sink is connected');
  }
}
