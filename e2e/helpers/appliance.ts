// The whole appliance, natively, for one test file: Postfix (rendered by postfix/render.sh) → the
// real collector → our hpfeeds broker and the machine's RabbitMQ, each with a consumer recording what
// arrived. stop() tears everything down and is safe to call after a failed start.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AMQP_URL, AmqpQueue, HPFEEDS_CHANNEL, HpfeedsBrokerProcess, HpfeedsSubscriber, PUBLISHER } from './brokers.js';
import { Collector } from './collector.js';
import { sha256, splitPostfixReceived, type Delivered } from './payload.js';
import { freePort } from './ports.js';
import { claim, reapOrphans } from './reaper.js';
import { FAST_RETRY, PostfixInstance } from './postfix.js';
import { eventually } from './wait.js';

export const TRAP_DOMAIN = 'trap-e2e.test';

export interface ApplianceOptions {
  relayDomains?: string[];
  /** More environment for the Postfix render scripts (MESSAGE_SIZE_LIMIT, POSTFIX_<parameter>, ...). */
  postfixEnv?: Record<string, string>;
  /** false: leave the collector stopped (the outage tests start it themselves). */
  startCollector?: boolean;
  /** Where the collector publishes (default the machine's RabbitMQ, vhost /). */
  amqpUrl?: string;
}

export class Appliance {
  postfix: PostfixInstance | undefined;
  collector: Collector | undefined;
  hpfeedsBroker: HpfeedsBrokerProcess | undefined;
  subscriber: HpfeedsSubscriber | undefined;
  amqp: AmqpQueue | undefined;

  private constructor(readonly dir: string) {}

  static async start(opts: ApplianceOptions = {}): Promise<Appliance> {
    await reapOrphans();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-appliance-'));
    await claim(dir);
    const app = new Appliance(dir);
    try {
      const amqpUrl = opts.amqpUrl ?? AMQP_URL;
      app.amqp = await AmqpQueue.create(amqpUrl);
      app.hpfeedsBroker = await HpfeedsBrokerProcess.start(dir);
      app.subscriber = await HpfeedsSubscriber.connect(app.hpfeedsBroker.port);
      const lmtpPort = await freePort();
      app.collector = await Collector.create({
        dir,
        lmtpPort,
        amqp: { url: amqpUrl, exchange: app.amqp.exchange, routingKey: app.amqp.routingKey },
        hpfeeds: { port: app.hpfeedsBroker.port, ...PUBLISHER, channel: HPFEEDS_CHANNEL },
      });
      if (opts.startCollector !== false) await app.collector.start();
      app.postfix = await PostfixInstance.start({
        lmtpPort,
        relayDomains: opts.relayDomains ?? [TRAP_DOMAIN],
        env: { ...FAST_RETRY, ...opts.postfixEnv },
      });
    } catch (err) {
      await app.stop();
      throw err;
    }
    return app;
  }

  /** What each broker received so far that contains `token`. */
  received(token: string): { hpfeeds: Delivered[]; amqp: Delivered[] } {
    const has = (d: Delivered) => d.bytes.includes(token);
    return { hpfeeds: this.subscriber!.received.filter(has), amqp: this.amqp!.received.filter(has) };
  }

  /** Waits until both brokers have the message carrying `token`, and returns both copies. */
  async waitForTrapMail(token: string, ms = 30_000): Promise<{ hpfeeds: Delivered; amqp: Delivered }> {
    try {
      return await eventually(`message ${token} at both brokers`, () => {
        const got = this.received(token);
        return got.hpfeeds[0] && got.amqp[0] ? { hpfeeds: got.hpfeeds[0], amqp: got.amqp[0] } : undefined;
      }, ms);
    } catch (err) {
      // Say where it got stuck: what each broker has, Postfix's queue, the collector's last words.
      const got = this.received(token);
      const queue = await this.postfix?.queue().catch((e: Error) => e.message);
      const collectorLog = (this.collector?.log ?? '').trim().split('\n').slice(-8).join('\n');
      throw new Error(`${(err as Error).message}\nhpfeeds copies: ${got.hpfeeds.length}, amqp copies: ${got.amqp.length}\n` +
        `postfix queue: ${JSON.stringify(queue)}\ncollector log (end):\n${collectorLog}`);
    }
  }

  async stop(): Promise<void> {
    const steps = [
      () => this.postfix?.stop(),
      () => this.collector?.stop(),
      () => this.subscriber?.close(),
      () => this.hpfeedsBroker?.stop(),
      () => this.amqp?.delete(),
    ];
    const errors: unknown[] = [];
    for (const step of steps) await Promise.resolve().then(step).catch((err: unknown) => errors.push(err));
    if (!process.env.E2E_KEEP) await fs.rm(this.dir, { recursive: true, force: true });
    if (errors.length) throw new AggregateError(errors, `stopping the appliance: ${errors.map(String).join('; ')}`);
  }
}

/** A unique trap message (CRLF line ends) whose token identifies it at the brokers. */
export function trapMessage(token = randomUUID(), body = 'A message for the trap.\r\n', to = `someone@${TRAP_DOMAIN}`): { token: string; data: Buffer } {
  const data = Buffer.from(
    `From: Spammer <spammer@example.org>\r\nTo: <${to}>\r\nSubject: e2e ${token}\r\nMessage-ID: <${token}@example.org>\r\n\r\n${body}`,
    'utf8',
  );
  return { token, data };
}

/**
 * A delivered copy is intact: its sha256 is the sha256 of its bytes, and after Postfix's one Received:
 * header the bytes are exactly what the client sent.
 */
export function assertIntact(delivered: Delivered, sent: Buffer, receivedBy = /by mx\.trap-e2e\.test \(Postfix\)/): void {
  assert.equal(delivered.sha256, sha256(delivered.bytes), 'the sha256 in the payload is the sha256 of the bytes');
  const { received, rest } = splitPostfixReceived(delivered.bytes);
  assert.match(received, receivedBy, "Postfix's own Received: header comes first");
  assert.ok(rest.equals(sent), `bytes after Postfix's Received: header differ from what was sent:\n--- sent\n${sent.toString('latin1')}\n--- got\n${rest.toString('latin1')}`);
}
