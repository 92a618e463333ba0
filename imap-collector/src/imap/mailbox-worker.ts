// One worker per mailbox. It owns one IMAP session at a time: connect, collect, and in continuous
// mode wait for new mail (IDLE, or polling on servers without it) and collect again. A failure ends
// the session; the worker reconnects with backoff. Workers share nothing but the sinks, so one
// broken account never holds up another.
import { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import { mailboxId, type MailboxConfig } from '../mailboxes/schema.js';
import { UidStateFile } from '../state/uid-state.js';
import type { ImapMetrics } from '../ops/imap-metrics.js';
import { Backoff } from 'catchall-lmtp/hpfeeds/backoff';
import { clientOptions } from './client-options.js';
import { collectPass, markAction, type Deliver, type PassResult } from './collect-pass.js';
import { Wakeup } from './wakeup.js';

export interface WorkerTiming {
  /** Used instead of IDLE when the server does not offer it. */
  pollIntervalMs: number;
  /** Break and re-issue IDLE this often (RFC 2177: well below 29 minutes). */
  idleRestartMs: number;
  /** Log out and reconnect after this long, before a server's 30-minute inactivity timer can bite. */
  sessionMaxMs: number;
  connectTimeoutMs: number;
  backoff: { initialDelayMs: number; maxDelayMs: number };
}

export const defaultTiming: WorkerTiming = {
  pollIntervalMs: 15_000,
  idleRestartMs: 5 * 60_000,
  sessionMaxMs: 29 * 60_000,
  connectTimeoutMs: 30_000,
  backoff: { initialDelayMs: 1_000, maxDelayMs: 60_000 },
};

export interface WorkerOptions {
  mailbox: MailboxConfig;
  fetchAll: boolean;
  deleteAfter: boolean;
  continuous: boolean;
  stateDir: string;
  deliver: Deliver;
  /** True while every sink is connected. */
  sinksReady: () => boolean;
  logger: Logger;
  /** imapflow's own protocol log; quiet unless -v. */
  imapLogger: Logger;
  timing?: Partial<WorkerTiming>;
  metrics?: ImapMetrics;
}

export interface WorkerOutcome {
  mailbox: string;
  collected: number;
  /** Why the last attempt failed (one-shot mode), if it did. */
  error?: unknown;
}

export class MailboxWorker {
  readonly id: string;
  private readonly timing: WorkerTiming;
  private readonly state: UidStateFile;
  private readonly log: Logger;
  private readonly stopSignal = new Wakeup();
  private stopping = false;
  private client: ImapFlow | undefined;
  private collected = 0;

  constructor(private readonly o: WorkerOptions) {
    this.id = mailboxId(o.mailbox);
    this.timing = { ...defaultTiming, ...o.timing };
    this.state = UidStateFile.forMailbox(o.stateDir, this.id);
    this.log = o.logger.child({ mailbox: this.id });
  }

  /** One-shot: a single session and pass. Continuous: runs until stop(). Never rejects. */
  async run(): Promise<WorkerOutcome> {
    if (!this.o.continuous) {
      try {
        const pass = await this.session();
        if (pass && (pass.refused > 0 || pass.sinksDown)) {
          return this.outcome(new Error(pass.sinksDown ? 'a sink was not connected' : `${pass.refused} message(s) refused by a sink`));
        }
        return this.outcome();
      } catch (error) {
        this.o.metrics?.sessionFailures.inc({ mailbox: this.id });
        this.log.error({ err: error }, 'mailbox not collected');
        return this.outcome(error);
      }
    }
    const backoff = new Backoff(this.timing.backoff);
    while (!this.stopping) {
      try {
        await this.session(backoff);
        backoff.reset(); // the session ended on purpose (age limit): reconnect at once
      } catch (error) {
        if (this.stopping) break;
        this.o.metrics?.sessionFailures.inc({ mailbox: this.id });
        const delayMs = backoff.next();
        this.log.error({ err: error, retryInMs: delayMs }, 'IMAP session failed; reconnecting');
        await this.stopSignal.wait(delayMs);
      }
    }
    return this.outcome();
  }

  /** Lets the message in hand finish, then logs out and lets run() return. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.wake(); // ends IDLE, a poll wait or a backoff pause; a pass stops after its current message
    // A connection attempt has nothing to finish: drop it rather than wait for its timeout.
    if (this.client && !this.client.usable) this.client.close();
  }

  private outcome(error?: unknown): WorkerOutcome {
    return error === undefined ? { mailbox: this.id, collected: this.collected } : { mailbox: this.id, collected: this.collected, error };
  }

  /**
   * Connects, collects, and in continuous mode keeps collecting whenever new mail may have come in,
   * until the session is old or broken. Returns the last pass (one-shot) or throws what broke it.
   */
  private async session(backoff?: Backoff): Promise<PassResult | undefined> {
    const client = new ImapFlow(clientOptions(this.o.mailbox, this.timing, this.o.imapLogger));
    this.client = client;
    const newMail = new Wakeup();
    let closed: Error | undefined;
    // imapflow emits 'error' for a broken connection; without a listener Node would crash the process.
    client.on('error', (err: Error) => {
      closed ??= err;
      newMail.wake();
    });
    client.on('close', () => {
      closed ??= new Error('connection closed by the server');
      newMail.wake();
    });
    client.on('exists', () => newMail.wake());
    const startedAt = Date.now();
    try {
      await client.connect();
      // What the connection is, not what was asked for: the TLS version negotiated, false in cleartext.
      const tls = client.tls ? client.tls.version : false;
      this.log.info({ tls, tlsMode: this.o.mailbox.tls, idle: client.capabilities.has('IDLE') }, 'IMAP session open');
      if (markAction({ client, deleteAfter: this.o.deleteAfter }) === 'flagged-deleted') {
        this.log.warn(
          'the server does not offer UIDPLUS: -d flags collected messages \\Deleted and \\Seen but does not expunge them ' +
            '(a plain EXPUNGE would also remove messages that others flagged \\Deleted); they are not collected again',
        );
      }
      this.o.metrics?.connected.set({ mailbox: this.id }, 1);
      await client.mailboxOpen(this.o.mailbox.mailbox);
      for (;;) {
        newMail.clear(); // anything arriving from here on is seen by this pass or wakes the next
        const pass = await this.pass(client);
        if (!this.o.continuous || this.stopping) return pass;
        if (closed) throw closed;
        const remainingMs = this.timing.sessionMaxMs - (Date.now() - startedAt);
        if (remainingMs <= 0) {
          this.log.info('session age limit reached; reconnecting');
          return pass;
        }
        if (pass.sinksDown) {
          // Keep the IMAP session and look again after a growing pause; the sinks reconnect on their own.
          await this.stopSignal.wait(Math.min(backoff?.next() ?? 0, remainingMs));
          if (this.stopping) return pass;
          continue;
        }
        backoff?.reset();
        await this.waitForMail(client, newMail, remainingMs);
        if (this.stopping) return pass;
        if (closed) throw closed;
      }
    } finally {
      this.o.metrics?.connected.set({ mailbox: this.id }, 0);
      if (client.usable) await client.logout().catch(() => client.close());
      else client.close();
      this.client = undefined;
    }
  }

  private async pass(client: ImapFlow): Promise<PassResult> {
    const result = await collectPass({
      client,
      account: this.o.mailbox.username,
      mailbox: this.o.mailbox.mailbox,
      state: this.state,
      sinksReady: this.o.sinksReady,
      fetchAll: this.o.fetchAll,
      deleteAfter: this.o.deleteAfter,
      deliver: async (message) => {
        const result = await this.o.deliver(message);
        this.o.metrics?.messages.inc({ mailbox: this.id, result: result.ok ? 'collected' : 'deferred' });
        if (result.ok) this.o.metrics?.bytes.inc({ mailbox: this.id }, message.bytes.length);
        return result;
      },
      logger: this.log,
      shouldStop: () => this.stopping,
    });
    this.collected += result.collected;
    return result;
  }

  /** Returns when the server reports new mail, the poll interval passes, or the session must end. */
  private async waitForMail(client: ImapFlow, newMail: Wakeup, maxMs: number): Promise<void> {
    if (!client.capabilities.has('IDLE')) {
      await Wakeup.any([newMail, this.stopSignal], Math.min(this.timing.pollIntervalMs, maxMs));
      return;
    }
    // idle() settles when the next command breaks it or after idleRestartMs; either way, look again.
    const idling = client.idle().catch((err: unknown) => this.log.debug({ err }, 'IDLE ended with an error'));
    await Wakeup.any([newMail, this.stopSignal], maxMs, idling);
  }
}
