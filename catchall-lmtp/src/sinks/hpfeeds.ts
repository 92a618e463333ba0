// hpfeeds sink: publishes every message to each configured channel through our hpfeeds client. A
// message counts as delivered once its PUBLISH frame is written, on every channel, to an
// authenticated connection, and, while the broker has not yet been seen to take such a frame on this
// connection, once errorGraceMs passed without an ERROR (a bad secret or a denied channel is only ever
// answered by ERROR and a close; see hpfeeds/client.ts). hpfeeds has no acknowledgement, so that is
// the strongest guarantee the protocol offers. A payload too large for the broker's frame limit is
// refused with its size and the limit (the collector answers 4xx), never dropped silently.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { HpfeedsSinkConfig } from '../config/schema.js';
import { HpfeedsClient, publishFrameSize, type HpfeedsBrokerError, type HpfeedsClientOptions } from '../hpfeeds/index.js';
import { encodePayload } from '../payload/index.js';
import { SinkError, type CollectedMessage, type Sink } from './sink.js';

export interface HpfeedsSinkOptions extends HpfeedsSinkConfig {
  /** How long a publish may wait for its frame to be written (a stalled socket); default 15 s. */
  publishTimeoutMs?: number;
}

export class HpfeedsSink implements Sink {
  readonly name: string;
  private readonly client: HpfeedsClient;
  private closed = false;

  constructor(
    private readonly options: HpfeedsSinkOptions,
    private readonly deps: { logger: Logger },
  ) {
    this.name = `hpfeeds:${options.host}:${options.port}`;
    const logger = deps.logger.child({ sink: this.name });
    const clientOptions: HpfeedsClientOptions = {
      host: options.host,
      port: options.port,
      ident: options.ident,
      secret: options.secret,
      tls: tlsOptions(options.tls),
      maxFrameSize: options.maxFrameSize,
      errorGraceMs: options.errorGraceMs,
      reconnect: options.reconnect,
      logger,
    };
    try {
      this.client = new HpfeedsClient(clientOptions);
    } catch (err) {
      throw new ConfigError(`hpfeeds sink ${options.host}:${options.port}: ${(err as Error).message}`); // e.g. an ident over 255 bytes
    }
    // The broker's ERROR text is the only explanation it gives (bad secret, channel not allowed).
    this.client.on('error', (err: HpfeedsBrokerError) =>
      logger.error({ brokerError: err.text, ident: options.ident, channels: options.channels }, `hpfeeds broker ERROR: ${err.text}`),
    );
  }

  /** Connects in the background; an unreachable broker is logged and retried by the client. */
  async start(): Promise<void> {
    this.client.connect().catch(() => undefined); // the client logs the failure and keeps retrying
  }

  async deliver(message: CollectedMessage): Promise<void> {
    if (this.closed) throw new SinkError(this.name, 'the sink is closing');
    const { channels, ident, maxFrameSize, format } = this.options;
    const payload = encodePayload(message, format);
    // Checked for every channel before publishing to any, so a message is not half-published.
    for (const channel of channels) {
      const size = publishFrameSize(ident, channel, payload.length);
      if (size > maxFrameSize) {
        throw new SinkError(
          this.name,
          `message too large for the broker: a ${format} payload of ${payload.length} bytes makes a PUBLISH frame of ${size} bytes on channel '${channel}', over hpfeeds.maxFrameSize ${maxFrameSize} bytes`,
        );
      }
    }
    // A socket the broker stops reading from never calls back: bound the wait (the frame may still go
    // out later, so a retry can duplicate the message, which beats losing it).
    const timeoutMs = this.options.publishTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PUBLISH not written within ${timeoutMs} ms (broker not reading?)`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(channels.map((channel) => this.client.publish(channel, payload))), timeout]);
    } catch (err) {
      throw new SinkError(this.name, (err as Error).message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  isReady(): boolean {
    return this.client.connected && !this.closed;
  }

  /** Waits for frames being written, then closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.client.close();
  }
}

function tlsOptions(tls: HpfeedsSinkConfig['tls']): HpfeedsClientOptions['tls'] {
  if (!tls.enabled) return false;
  let ca: Buffer | undefined;
  if (tls.ca !== undefined) {
    try {
      ca = readFileSync(tls.ca);
    } catch (err) {
      throw new ConfigError(`hpfeeds.tls.ca: cannot read ${tls.ca}: ${(err as Error).message}`);
    }
  }
  return { ca, rejectUnauthorized: tls.verify };
}
