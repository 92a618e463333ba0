// A consumer on the machine's real RabbitMQ (127.0.0.1:5672, guest) with an exchange and queue of
// its own, so tests running in parallel never see each other's messages. close() deletes both.
import { randomBytes } from 'node:crypto';
import { waitUntil } from './wait.js';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';

export const RABBIT_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';

export class RabbitConsumer {
  /** Messages from the collector (markers are kept apart). */
  readonly received: ConsumeMessage[] = [];
  private readonly markers = new Map<string, number>();

  private constructor(
    readonly exchange: string,
    readonly queue: string,
    readonly routingKey: string,
    private readonly connection: ChannelModel,
    private readonly channel: Channel,
  ) {}

  static async create(): Promise<RabbitConsumer> {
    const id = `imap-test-${randomBytes(6).toString('hex')}`;
    const connection = await amqp.connect(RABBIT_URL);
    try {
      const channel = await connection.createChannel();
      // Declared as the collector declares it (topic, not durable), so its own declare matches.
      await channel.assertExchange(id, 'topic', { durable: false });
      await channel.assertQueue(id, { durable: false, autoDelete: false });
      await channel.bindQueue(id, id, 'spam.mails');
      const consumer = new RabbitConsumer(id, id, 'spam.mails', connection, channel);
      await channel.consume(id, (m) => {
        if (!m) return;
        const marker = m.properties.headers?.['x-test-marker'] as string | undefined;
        if (marker !== undefined) consumer.markers.set(marker, consumer.received.length);
        else consumer.received.push(m);
        channel.ack(m);
      });
      return consumer;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  /** The feed-config sink entry that publishes into this consumer's exchange. */
  sink(format: 'json' | 'raw' = 'json', url = RABBIT_URL): Record<string, unknown> {
    return { type: 'amqp', url, exchange: this.exchange, routingKey: this.routingKey, format, connectTimeoutMs: 2_000, confirmTimeoutMs: 5_000 };
  }

  /** Waits until at least `count` messages arrived (or fails after `timeoutMs`). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<ConsumeMessage[]> {
    await waitUntil(() => this.received.length >= count, `${count} messages on ${this.queue} (got ${this.received.length})`, timeoutMs);
    return this.received.slice(0, count);
  }

  /**
   * How many messages arrived before a marker published now. Whatever the collector had published
   * (and got confirmed) before is queued ahead of it, so this is a "nothing more came" check.
   */
  async countBeforeMarker(timeoutMs = 10_000): Promise<number> {
    const marker = randomBytes(6).toString('hex');
    this.channel.publish(this.exchange, this.routingKey, Buffer.from('marker'), { headers: { 'x-test-marker': marker } });
    await waitUntil(() => this.markers.has(marker), 'the marker', timeoutMs);
    return this.markers.get(marker)!;
  }

  async close(): Promise<void> {
    try {
      await this.channel.deleteQueue(this.queue);
      await this.channel.deleteExchange(this.exchange);
    } finally {
      await this.connection.close().catch(() => undefined);
    }
  }
}

/** The message bytes and envelope of a json-format payload (the LMTP collector's documented format). */
export function decodeJsonPayload(content: Buffer): { sha256: string; bytes: Buffer; envelope: Record<string, unknown> } {
  const doc = JSON.parse(content.toString('utf8')) as { sha256: string; msg: string; encoding?: string; envelope: Record<string, unknown> };
  const bytes = doc.encoding === 'base64' ? Buffer.from(doc.msg, 'base64') : Buffer.from(doc.msg, 'utf8');
  return { sha256: doc.sha256, bytes, envelope: doc.envelope };
}
