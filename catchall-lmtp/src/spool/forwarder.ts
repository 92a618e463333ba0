// Publishes spooled messages (new/) to every sink in the background and moves each to cur/ once all
// sinks confirmed. Messages left in new/ (a crash, a broker outage) are replayed at start-up, when a
// sink reconnects and periodically. A message is never handed to the sinks twice at the same time:
// every name in new/ is tracked from the moment it is seen until it has moved to cur/.
import type { Logger } from 'pino';
import { publishToAll } from '../delivery/publish.js';
import type { Metrics } from '../ops/metrics.js';
import type { CollectedMessage, Sink } from '../sinks/sink.js';
import type { SpoolStore } from './spool-store.js';

export interface ForwarderOptions {
  concurrency: number;
  replayIntervalMs: number;
  /** How often sink readiness is checked to notice a reconnect. */
  readinessPollMs?: number;
}

export class Forwarder {
  /** Every name known to be in new/: queued, being published, or waiting for a retry. */
  private readonly pending = new Set<string>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Messages just accepted, kept so they need not be read back from disk. */
  private readonly cache = new Map<string, CollectedMessage>();
  /** Sinks that already confirmed a message whose other sinks failed: a retry skips them. Also kept
   *  in the message's meta/ file, so that a restart skips them too. */
  private readonly confirmedBy = new Map<string, Set<string>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private allReady = false;
  private stopped = false;
  private replaying?: Promise<void>;

  constructor(
    private readonly store: SpoolStore,
    private readonly sinks: readonly Sink[],
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: ForwarderOptions,
  ) {}

  /** Number of messages in new/ not yet confirmed by every sink. */
  get depth(): number {
    return this.pending.size;
  }

  async start(): Promise<void> {
    this.allReady = this.sinksReady();
    await this.replay('start-up');
    const poll = setInterval(() => {
      const ready = this.sinksReady();
      if (ready && !this.allReady) void this.replay('sink reconnected');
      this.allReady = ready;
    }, this.options.readinessPollMs ?? 500);
    const periodic = setInterval(() => void this.replay('periodic'), this.options.replayIntervalMs);
    this.timers.push(poll, periodic);
    for (const t of this.timers) t.unref();
  }

  /** A message just stored in new/: publish it now if there is room. */
  enqueue(name: string, message?: CollectedMessage): void {
    if (this.stopped || this.pending.has(name)) return;
    this.pending.add(name);
    // Keep the bytes only if the message will be published right away; otherwise (a sink down,
    // a backlog) it is read back from disk later, so memory does not grow with the backlog.
    const startsNow = this.inFlight.size + this.queue.length < this.options.concurrency && this.sinksReady();
    if (message && startsNow) this.cache.set(name, message);
    this.push(name);
    this.pump();
  }

  /** Re-scans new/ for messages nobody is working on (after a crash, an outage, a failure). */
  replay(reason: string): Promise<void> {
    this.replaying ??= (async () => {
      try {
        const names = await this.store.listNew();
        const retry = names.filter((n) => !this.inFlight.has(n) && !this.queued.has(n));
        if (retry.length > 0) this.logger.info({ reason, messages: retry.length }, 'replaying spooled messages');
        for (const name of retry) {
          this.pending.add(name);
          this.push(name);
        }
        this.pump();
      } catch (err) {
        this.logger.error({ err, reason }, 'cannot list the spool');
      } finally {
        this.replaying = undefined;
      }
    })();
    return this.replaying;
  }

  /** Stops taking new work and waits for the publishes in flight (their confirms). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.replaying;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private push(name: string): void {
    this.queued.add(name);
    this.queue.push(name);
  }

  private sinksReady(): boolean {
    return this.sinks.every((s) => s.isReady());
  }

  private pump(): void {
    // While a sink is down, publishing would only fail: messages wait in new/ for the reconnect.
    if (this.sinks.length > 0 && !this.sinksReady()) {
      this.allReady = false;
      return;
    }
    while (!this.stopped && this.inFlight.size < this.options.concurrency && this.queue.length > 0) {
      const name = this.queue.shift()!;
      this.queued.delete(name);
      if (this.inFlight.has(name)) continue;
      const work = this.forward(name).finally(() => {
        this.inFlight.delete(name);
        this.cache.delete(name);
        this.pump();
      });
      this.inFlight.set(name, work);
    }
  }

  private async forward(name: string): Promise<void> {
    const started = process.hrtime.bigint();
    let message: CollectedMessage;
    let confirmedBefore: string[] = [];
    try {
      const cached = this.cache.get(name);
      if (cached) message = cached;
      else ({ message, confirmedBy: confirmedBefore } = await this.store.read(name));
    } catch (err) {
      this.pending.delete(name);
      // ENOENT: forwarded meanwhile (a scan listed new/ just before the move) or removed by hand.
      const gone = (err as NodeJS.ErrnoException).code === 'ENOENT';
      this.logger[gone ? 'debug' : 'error']({ file: name, err: (err as Error).message }, gone ? 'spooled message no longer in new/' : 'cannot read a spooled message');
      return;
    }
    const done = new Set([...confirmedBefore, ...(this.confirmedBy.get(name) ?? [])]);
    const remaining = this.sinks.filter((s) => !done.has(s.name));
    const result = await publishToAll(remaining, message, this.metrics);
    const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
    const log = { sha256: message.sha256, size: message.envelope.size, recipients: message.envelope.rcptTo.length, client: message.envelope.clientAddress, file: name, sinks: result.sinks, ms };
    if (!result.ok) {
      const newlyConfirmed = remaining.filter((s) => result.sinks[s.name] === 'ok');
      for (const s of newlyConfirmed) done.add(s.name);
      this.confirmedBy.set(name, done);
      if (newlyConfirmed.length > 0) {
        await this.store.recordConfirmed(name, message, [...done]).catch((err: Error) =>
          this.logger.error({ file: name, err: err.message }, 'cannot record which sinks confirmed; a restart would publish to them again'),
        );
      }
      this.logger.warn({ ...log, outcome: 'retry later' }, 'spooled message not forwarded');
      return; // stays pending in new/; replayed on reconnect or by the periodic scan
    }
    try {
      this.store.markForwarded(name);
    } catch (err) {
      this.logger.error({ ...log, err }, 'forwarded, but cannot move the message to cur/');
      return;
    }
    this.pending.delete(name);
    this.confirmedBy.delete(name);
    this.logger.info({ ...log, outcome: 'forwarded' }, 'spooled message forwarded');
  }
}
