// The two brokers a trap message must reach, each with a consumer that records what arrived:
// our hpfeeds broker (the real binary, on a port of its own) and the machine's RabbitMQ (a unique
// exchange and queue per test file, deleted afterwards).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import amqp from 'amqplib';
import { HpfeedsClient } from 'catchall-lmtp/hpfeeds';
import { decodePayload, type Delivered } from './payload.js';
import { REPO } from './paths.js';
import { Service } from './service.js';

export const AMQP_URL = process.env.E2E_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export const HPFEEDS_CHANNEL = 'spam.mails';
/** The appliance's hpfeeds frame limit (docker-compose.yml, native-up): a 10 MB mail as base64 JSON fits. */
export const HPFEEDS_MAX_FRAME_SIZE = 16 * 1024 * 1024;
export const PUBLISHER = { ident: 'collector', secret: randomUUID() };
const SUBSCRIBER = { ident: 'research', secret: randomUUID() };

/** `hpfeeds-broker` as a process, so it can be stopped and started again on the same port. */
export class HpfeedsBrokerProcess {
  private service: Service | undefined;
  port = 0;

  private constructor(private readonly authFile: string) {}

  static async start(dir: string): Promise<HpfeedsBrokerProcess> {
    const authFile = path.join(dir, 'hpfeeds-auth.json');
    await fs.writeFile(authFile, JSON.stringify({
      [PUBLISHER.ident]: { owner: 'catchall-lmtp', secret: PUBLISHER.secret, pubchans: [HPFEEDS_CHANNEL], subchans: [] },
      [SUBSCRIBER.ident]: { owner: 'e2e', secret: SUBSCRIBER.secret, pubchans: [], subchans: [HPFEEDS_CHANNEL] },
    }));
    const broker = new HpfeedsBrokerProcess(authFile);
    await broker.restart();
    return broker;
  }

  /** Starts the broker: on a free port the first time, on the same port afterwards. */
  async restart(): Promise<void> {
    this.service = Service.start('hpfeeds-broker', process.execPath, [
      path.join(REPO, 'broker-dev/bin/hpfeeds-broker.js'),
      '--endpoint', `tcp:port=${this.port}:interface=127.0.0.1`,
      '--auth', this.authFile,
      '--name', 'e2e',
      '--max-frame-size', String(HPFEEDS_MAX_FRAME_SIZE),
    ]);
    const line = await this.service.waitForLine('listening', (l) => l.msg === 'listening');
    this.port = Number(line.port);
  }

  async stop(): Promise<void> {
    await this.service?.stop();
  }
}

/** Records every message published on the channel; reconnects quickly after a broker restart. */
export class HpfeedsSubscriber {
  readonly received: Delivered[] = [];
  private constructor(private readonly client: HpfeedsClient) {}

  static async connect(port: number): Promise<HpfeedsSubscriber> {
    const client = new HpfeedsClient({ host: '127.0.0.1', port, ...SUBSCRIBER, maxFrameSize: HPFEEDS_MAX_FRAME_SIZE, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
    const sub = new HpfeedsSubscriber(client);
    client.on('message', (m: { payload: Buffer }) => sub.received.push(decodePayload(m.payload)));
    client.on('error', () => {}); // reconnects on its own; the tests look at what arrived
    client.subscribe(HPFEEDS_CHANNEL);
    await client.connect();
    return sub;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * A RabbitMQ exchange declared the way the collector declares it (topic, not durable), with a queue
 * of our own bound to the collector's routing key, consumed into `received`.
 */
export class AmqpQueue {
  readonly received: Delivered[] = [];
  readonly exchange = `e2e-${randomUUID()}`;
  readonly queue = `${this.exchange}.mails`;
  readonly routingKey = 'spam.mails';
  private conn: amqp.ChannelModel | undefined;

  static async create(url = AMQP_URL): Promise<AmqpQueue> {
    const q = new AmqpQueue();
    q.conn = await amqp.connect(url);
    const ch = await q.conn.createChannel();
    await ch.assertExchange(q.exchange, 'topic', { durable: false });
    await ch.assertQueue(q.queue, { durable: false, autoDelete: false });
    await ch.bindQueue(q.queue, q.exchange, q.routingKey);
    await ch.consume(q.queue, (m) => {
      if (m) q.received.push(decodePayload(m.content));
    }, { noAck: true });
    return q;
  }

  /** The local port of our consumer's connection (so an outage can spare it). */
  get clientPort(): number {
    return (this.conn as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
  }

  async delete(): Promise<void> {
    if (!this.conn) return;
    try {
      const ch = await this.conn.createChannel();
      await ch.deleteQueue(this.queue);
      await ch.deleteExchange(this.exchange);
    } finally {
      await this.conn.close().catch(() => undefined);
      this.conn = undefined;
    }
  }
}
