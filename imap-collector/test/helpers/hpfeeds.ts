// Our hpfeeds broker (broker-dev) on a free loopback port, with a subscriber that records every
// message on the test's channel. The collector publishes as `writer`; the subscriber reads as `reader`.
import { randomBytes } from 'node:crypto';
import { HpfeedsClient, type HpfeedsMessage } from 'catchall-lmtp/hpfeeds';
import { MemoryAuthStore } from 'broker-dev/src/auth/auth-store.js';
import { HpfeedsBroker } from 'broker-dev/src/broker/broker.js';
import { waitUntil } from './wait.js';

const PROBE = 'subscription-probe';

export class HpfeedsFixture {
  /** Messages from the collector (ident `writer`); the test's own markers are kept apart. */
  readonly received: HpfeedsMessage[] = [];
  private readonly markers = new Map<string, number>();

  private constructor(
    private readonly broker: HpfeedsBroker,
    private readonly subscriber: HpfeedsClient,
    readonly port: number,
    readonly channel: string,
    private readonly writerSecret: string,
  ) {}

  static async start(options: { maxFrameSize?: number } = {}): Promise<HpfeedsFixture> {
    const channel = `spam.mails.${randomBytes(4).toString('hex')}`;
    const writerSecret = randomBytes(8).toString('hex');
    const readerSecret = randomBytes(8).toString('hex');
    const broker = new HpfeedsBroker({
      auth: new MemoryAuthStore([
        { ident: 'writer', owner: 'collector', secret: writerSecret, pubchans: [channel], subchans: [] },
        { ident: 'reader', owner: 'test', secret: readerSecret, pubchans: [channel], subchans: [channel] },
      ]),
      maxFrameSize: options.maxFrameSize,
    });
    const { port } = await broker.listen('tcp:port=0:interface=127.0.0.1');
    const subscriber = new HpfeedsClient({ host: '127.0.0.1', port, ident: 'reader', secret: readerSecret, maxFrameSize: options.maxFrameSize, reconnect: false });
    const fixture = new HpfeedsFixture(broker, subscriber, port, channel, writerSecret);
    try {
      await subscriber.connect();
      const messages = subscriber.subscribe(channel);
      // The probe comes back only once the broker has our subscription, so no publish can be missed.
      await subscriber.publish(channel, PROBE);
      const first = await messages.next();
      if (first.done || first.value.payload.toString() !== PROBE) throw new Error('subscription probe did not come back');
      void (async () => {
        for await (const m of messages) {
          if (m.ident === 'reader') fixture.markers.set(m.payload.toString(), fixture.received.length);
          else fixture.received.push(m);
        }
      })();
      return fixture;
    } catch (err) {
      await fixture.close();
      throw err;
    }
  }

  /** The feed-config sink entry that publishes to this broker and channel. */
  sink(format: 'json' | 'raw' = 'json', maxFrameSize?: number): Record<string, unknown> {
    return { type: 'hpfeeds', host: '127.0.0.1', port: this.port, ident: 'writer', secret: this.writerSecret, channels: [this.channel], format, ...(maxFrameSize ? { maxFrameSize } : {}) };
  }

  async waitFor(count: number, timeoutMs = 10_000): Promise<HpfeedsMessage[]> {
    await waitUntil(() => this.received.length >= count, `${count} hpfeeds messages on ${this.channel} (got ${this.received.length})`, timeoutMs);
    return this.received.slice(0, count);
  }

  /** How many collector messages the broker delivered before a marker published now. */
  async countBeforeMarker(timeoutMs = 10_000): Promise<number> {
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    await this.subscriber.publish(this.channel, marker);
    await waitUntil(() => this.markers.has(marker), 'the marker', timeoutMs);
    return this.markers.get(marker)!;
  }

  async close(): Promise<void> {
    await this.subscriber.close().catch(() => undefined);
    await this.broker.close();
  }
}
