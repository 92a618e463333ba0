// AMQP 0-9-1 sink (amqplib). A message counts as delivered only when the broker confirms it on a
// confirm channel AND did not return it: it is published persistent and `mandatory`, so a message
// no queue receives (basic.return, which RabbitMQ sends before the ack) rejects deliver().
//
// Connection handling is amqplib's recovery (exponential backoff with jitter, retried forever); the
// exchange is (re)declared in its `setup`, on every connection, before the sink counts as ready.
// A declaration the broker refuses (PRECONDITION_FAILED: the exchange exists with other settings)
// is reported naming our setting and retried at the slowest rate. A channel the broker closes on its
// own (e.g. the exchange was deleted) takes the connection down with it, so recovery starts over.
//
// Every publish is tracked until it settles: confirmed, returned, nacked, its channel lost, or no
// confirm within confirmTimeoutMs. Nothing waits forever.
import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type Message, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { AmqpSinkConfig } from '../config/schema.js';
import { Backoff } from '../hpfeeds/backoff.js';
import { amqpProperties, preparePayload, writePayload } from '../payload/index.js';
import { enablePreframing, preframe } from './amqp-frames.js';
import { defaultConnectionName, describeEndpoint, resolveEndpoint, type AmqpEndpoint } from './amqp-endpoint.js';
import { explainAmqpError } from './amqp-errors.js';
import { SinkError, type CollectedMessage, type Sink } from './sink.js';

export interface AmqpSinkOptions extends AmqpSinkConfig {
  /** Shown by the broker (management UI, rabbitmqctl list_connections); default names host and pid. */
  connectionName?: string;
}

/** Header that lets a basic.return be matched to the publish it belongs to. */
const PUBLISH_ID_HEADER = 'x-publish-id';
const MAYBE_DELIVERED = 'the message may or may not have reached the broker';

/** How long close() waits for the broker to answer the connection close. */
const CLOSE_TIMEOUT_MS = 2000;

/** Waits for `promise`, at most `ms`. */
async function within(ms: number, promise: Promise<unknown> | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

const isNack = (err: unknown) => (err as Error).message === 'message nacked';

interface PendingPublish {
  channel: ConfirmChannel;
  sha256: string;
  /** Set by a basic.return; the ack that follows it then rejects with this. */
  returned?: string;
  settle(err?: Error): void;
}

export class AmqpSink implements Sink {
  readonly name: string;
  private readonly endpoint: AmqpEndpoint;
  private readonly where: string;
  private readonly backoff: Backoff;
  private connection?: RecoveringChannelModel;
  /** The confirm channel of the current connection, once the exchange is declared. */
  private channel?: ConfirmChannel;
  private readonly pending = new Map<string, PendingPublish>();
  /** Set while the channel's write buffer is full; later publishes wait for 'drain'. */
  private drained?: Promise<void>;
  private lastError?: string;
  /** The last failure needs a broker or config change: retry slowly. */
  private slowRetry = false;
  private closing = false;
  private readonly publishPrefix = randomBytes(6).toString('hex');
  private publishSeq = 0;

  constructor(
    private readonly options: AmqpSinkOptions,
    private readonly deps: { logger: Logger },
  ) {
    this.endpoint = resolveEndpoint(options, options.connectionName ?? defaultConnectionName());
    this.where = describeEndpoint(this.endpoint);
    this.name = `amqp:${this.endpoint.host}:${this.endpoint.port}`;
    this.backoff = new Backoff(options.reconnect);
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  private logFields(extra: Record<string, unknown> = {}) {
    const { host, port, vhost, tls } = this.endpoint;
    return { sink: this.name, host, port, vhost, tls, exchange: this.options.exchange, ...extra };
  }

  /** Connects in the background; never rejects for an unreachable broker. */
  async start(): Promise<void> {
    if (this.connection || this.closing) return;
    this.log.info(this.logFields(), `connecting to ${this.where}`);
    const { reconnect } = this.options;
    const connection = await amqp.connect(this.endpoint.connect, {
      ...this.endpoint.socket,
      recovery: {
        initialDelay: reconnect.initialDelayMs,
        maxDelay: reconnect.maxDelayMs,
        waitForConnect: false,
        setup: (model: ChannelModel) => this.setup(model),
        calculateDelay: () => (this.slowRetry ? reconnect.maxDelayMs : this.backoff.next()),
      },
    });
    this.connection = connection;
    connection.on('connect', () => {
      this.backoff.reset();
      this.slowRetry = false;
      this.lastError = undefined;
      this.log.info(this.logFields(), `connected to ${this.where}`);
    });
    connection.on('disconnect', (err: Error) => {
      this.lastError = `connection lost: ${err.message}`;
      this.log.warn(this.logFields({ err: err.message }), `disconnected from ${this.where}`);
    });
    connection.on('connect-failed', (err: Error) => this.connectFailed(err));
    connection.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
      this.log.debug(this.logFields({ attempt, delayMs: delay }), 'reconnect scheduled'),
    );
    connection.on('blocked', (reason: string) => this.log.warn(this.logFields({ reason }), 'broker blocked publishing'));
    connection.on('unblocked', () => this.log.info(this.logFields(), 'broker unblocked publishing'));
    connection.on('error', (err: Error) => this.log.warn(this.logFields({ err: err.message }), 'connection error'));
  }

  /** Runs on every new connection, before it is considered up: channel, confirms, exchange. */
  private async setup(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel();
    if (!enablePreframing(channel)) this.log.warn(this.logFields(), 'amqplib is not the version preframing was written for: large payloads are copied into frames');
    // A channel the broker closes with an error emits 'error'; unhandled, it would throw.
    channel.on('error', (err: Error) => {
      const explained = explainAmqpError(err, this.errorContext());
      this.lastError = explained.message;
      this.slowRetry = explained.needsConfigChange;
      this.log.error(this.logFields({ err: explained.message }), 'channel closed by the broker');
    });
    const { exchange, exchangeType, exchangeDurable, declareExchange } = this.options;
    if (declareExchange) await channel.assertExchange(exchange, exchangeType, { durable: exchangeDurable });
    else await channel.checkExchange(exchange);

    channel.on('return', (msg: Message) => this.onReturn(msg));
    channel.on('drain', () => this.releaseDrain());
    channel.once('close', () => this.onChannelClose(channel, model));
    this.channel = channel;
  }

  private connectFailed(err: Error): void {
    const explained = explainAmqpError(err, this.errorContext());
    this.slowRetry = explained.needsConfigChange;
    this.lastError = explained.message;
    if (explained.needsConfigChange) this.log.error(this.logFields({ err: explained.message }), `cannot use ${this.where}; retrying slowly`);
    else this.log.warn(this.logFields({ err: explained.message }), `cannot connect to ${this.where}; retrying`);
  }

  private errorContext() {
    const { exchange, declareExchange } = this.options;
    return { exchange, declareExchange, username: this.endpoint.username, vhost: this.endpoint.vhost };
  }

  private onChannelClose(channel: ConfirmChannel, model: ChannelModel): void {
    if (this.channel === channel) this.channel = undefined;
    this.releaseDrain();
    const reason = this.closing ? 'the sink is closing' : `channel lost (${this.lastError ?? 'connection closed'})`;
    for (const [id, p] of this.pending) {
      if (p.channel === channel) {
        this.pending.delete(id);
        p.settle(new Error(`no confirm: ${reason}; ${MAYBE_DELIVERED}`));
      }
    }
    // The broker closed only the channel: restart the whole connection so that recovery applies.
    if (!this.closing) model.close().catch(() => undefined);
  }

  /** Why a confirm will never come. A channel the broker closed (e.g. a message over its
   *  max_message_size) has reported its error already; a dropped connection reports later. */
  private lostConfirm(err: unknown): string {
    return `no confirm: ${(err as Error).message} before the broker confirmed (${this.lastError ?? 'connection lost?'}); ${MAYBE_DELIVERED}`;
  }

  private onReturn(msg: Message): void {
    const id = msg.properties.headers?.[PUBLISH_ID_HEADER];
    const p = typeof id === 'string' ? this.pending.get(id) : undefined;
    const { replyCode, replyText, exchange, routingKey } = msg.fields as Message['fields'] & { replyCode?: number; replyText?: string };
    const reason = `unroutable: no queue is bound to exchange '${exchange}' for routing key '${routingKey}' (${replyCode ?? ''} ${replyText ?? 'returned'})`;
    if (p) p.returned = reason;
    else this.log.warn(this.logFields({ sha256: msg.properties.messageId, err: reason }), 'returned message matches no pending publish');
  }

  private releaseDrain(): void {
    const wake = this.wakeDrain;
    this.drained = undefined;
    this.wakeDrain = undefined;
    wake?.();
  }

  private wakeDrain?: () => void;

  async deliver(message: CollectedMessage): Promise<void> {
    const { confirmTimeoutMs, exchange, routingKey, format } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no publisher confirm within ${confirmTimeoutMs} ms`)), confirmTimeoutMs);
    });
    const id = `${this.publishPrefix}-${++this.publishSeq}`;
    try {
      // Backpressure: wait while the channel's buffer is full (bounded by the same deadline).
      while (this.drained) await Promise.race([this.drained, deadline]);
      const channel = this.channel;
      if (this.closing) throw new Error('the sink is closing');
      if (!channel) throw new Error(`not connected to ${this.where}${this.lastError ? `: ${this.lastError}` : ''}`);

      // A large payload is written straight into its AMQP frames (see amqp-frames.ts).
      const prepared = preparePayload(message, format);
      const payload = preframe(channel, prepared) ?? (format === 'raw' ? message.bytes : writePayload(prepared));
      const properties = amqpProperties(message, format);
      const confirmed = new Promise<void>((resolve, reject) => {
        const p: PendingPublish = {
          channel,
          sha256: message.sha256,
          settle: (err) => (err ? reject(err) : resolve()),
        };
        this.pending.set(id, p);
        const written = channel.publish(
          exchange,
          routingKey,
          payload,
          {
            ...properties,
            headers: { ...properties.headers, [PUBLISH_ID_HEADER]: id },
            persistent: true,
            mandatory: true,
          },
          (err) => {
            if (!this.pending.delete(id)) return; // already settled (channel lost)
            // amqplib reports a nack as 'message nacked', a confirm lost with the channel as 'channel closed'
            if (err) p.settle(new Error(isNack(err) ? 'the broker refused the message (nack)' : this.lostConfirm(err)));
            else if (p.returned) p.settle(new Error(p.returned));
            else p.settle();
          },
        );
        if (!written && !this.drained) this.drained = new Promise<void>((wake) => (this.wakeDrain = wake));
      });
      await Promise.race([confirmed, deadline]);
    } catch (err) {
      this.pending.delete(id);
      throw new SinkError(this.name, (err as Error).message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  isReady(): boolean {
    return this.channel !== undefined && !this.closing;
  }

  /** Stops reconnecting; publishes in flight still get their confirm (or their timeout). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const outstanding = [...this.pending.values()].map((p) => new Promise<void>((resolve) => {
      const settle = p.settle;
      p.settle = (err) => {
        settle(err);
        resolve();
      };
    }));
    await within(this.options.confirmTimeoutMs, Promise.all(outstanding));
    this.channel = undefined;
    // Closing the connection closes its channel. The close handshake is bounded: on a connection
    // that is dying at this very moment amqplib may never see the reply.
    await within(CLOSE_TIMEOUT_MS, this.connection?.close().catch(() => undefined));
    this.log.info(this.logFields(), `closed connection to ${this.where}`);
  }
}
