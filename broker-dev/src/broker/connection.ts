// One client connection: the hpfeeds session state machine (INFO → AUTH → PUBLISH/SUBSCRIBE/…), the
// per-ident ACL checks with the reference broker's exact ERROR texts, and a bounded send buffer.
// Every error answers ERROR and closes this connection only; nothing here can affect other clients.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  authHash,
  encodeError,
  encodeInfo,
  FrameDecoder,
  HpfeedsProtocolError,
  type Frame,
} from 'catchall-lmtp/hpfeeds';
import type { AuthStore } from '../auth/auth-store.js';
import type { BrokerMetrics } from './metrics.js';

/** What a connection needs from the broker that owns it. */
export interface ConnectionContext {
  name: string;
  auth: AuthStore;
  metrics: BrokerMetrics;
  logger: Logger;
  maxFrameSize: number;
  sendBufferLimit: number;
  backpressureDeadlineMs: number;
  authTimeoutMs: number;
  subscribe(conn: BrokerConnection, channel: string): void;
  unsubscribe(conn: BrokerConnection, channel: string): void;
  publish(conn: BrokerConnection, channel: string, payload: Buffer): void;
  /** Called once when the connection starts closing: it must receive no more messages. */
  detach(conn: BrokerConnection): void;
}

// How long a closing connection may take to flush its last bytes (e.g. the ERROR) before it is cut.
const CLOSE_GRACE_MS = 5000;

export class BrokerConnection {
  /** The authenticated ident; undefined until AUTH succeeds. */
  ident: string | undefined;
  owner: string | undefined;
  /** Channels this connection is subscribed to. */
  readonly channels = new Set<string>();
  readonly peer: string;
  readonly closed: Promise<void>;

  private readonly nonce = randomBytes(4);
  private readonly decoder: FrameDecoder;
  private pubchans = new Set<string>();
  private subchans = new Set<string>();
  // Frames decoded but not yet handled: they wait here while an AUTH lookup is in flight.
  private pending: Frame[] = [];
  private pendingHead = 0;
  private authInFlight = false;
  private closing = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly authTimer: NodeJS.Timeout;
  private readonly log: Logger;

  constructor(
    readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = ctx.logger.child({ peer: this.peer });
    this.decoder = new FrameDecoder({ limits: { publish: ctx.maxFrameSize, error: ctx.maxFrameSize } });
    // hpfeeds has no keepalive opcode; the reference relies on TCP keepalive (idle 10 s).
    socket.setKeepAlive(true, 10_000);
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.log.debug({ err, ident: this.ident }, 'socket error'));
    socket.once('close', () => this.onClose());
    this.authTimer = setTimeout(
      () => this.fail('auth-timeout', `No AUTH within ${ctx.authTimeoutMs} ms`),
      ctx.authTimeoutMs,
    );
    socket.write(encodeInfo(ctx.name, this.nonce));
  }

  /** Queues one encoded frame for this subscriber, enforcing the bounded send buffer. */
  deliver(frame: Buffer): void {
    if (this.closing) return;
    const { sendBufferLimit, metrics } = this.ctx;
    const ident = this.ident ?? '';
    // Hard bound: while on the deadline the buffer may grow to twice the limit, never further.
    // An empty buffer always takes a frame, so one large message never disconnects by itself.
    const queued = this.socket.writableLength;
    if (queued > 0 && queued + frame.length > 2 * sendBufferLimit) {
      this.backpressureExpired('send buffer full');
      return;
    }
    metrics.sendBufferFill.inc({ ident }, frame.length);
    this.socket.write(frame, (err) => {
      if (!err) metrics.sendBufferDrain.inc({ ident }, frame.length);
    });
    if (this.socket.writableLength > sendBufferLimit && !this.deadlineTimer) {
      metrics.sendBufferDeadlineStart.inc({ ident });
      this.log.warn({ ident, queued: this.socket.writableLength }, 'slow subscriber put on backpressure deadline');
      this.deadlineTimer = setTimeout(() => this.backpressureExpired('deadline expired'), this.ctx.backpressureDeadlineMs);
    }
  }

  /** Bytes received but not yet parsed, for the receive-buffer gauge. */
  get receiveBuffered(): number {
    return this.decoder.bufferedBytes;
  }

  /** Ends the connection, with an ERROR frame first when a text is given. */
  close(errorText?: string): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.authTimer);
    clearTimeout(this.deadlineTimer);
    this.pending = [];
    this.pendingHead = 0;
    this.ctx.detach(this);
    if (errorText !== undefined) this.socket.end(encodeError(errorText));
    else this.socket.end();
    // A peer that never reads would keep the socket half-closed forever.
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return; // draining the peer's last bytes after we sent ERROR
    // Bytes that arrive before AUTH completes are counted under ident "".
    this.ctx.metrics.receiveBufferFill.inc({ ident: this.ident ?? '' }, chunk.length);
    try {
      for (const frame of this.decoder.push(chunk)) this.pending.push(frame);
    } catch (err) {
      if (!(err instanceof HpfeedsProtocolError)) throw err;
      this.fail(kebab(err.code), `Malformed frame: ${err.message}`);
      return;
    }
    this.processPending();
  }

  // Handles frames strictly in arrival order. An AUTH lookup is asynchronous: while it runs, reading
  // pauses and later frames wait in `pending`, so a client may pipeline AUTH+SUBSCRIBE+PUBLISH.
  private processPending(): void {
    while (!this.authInFlight && !this.closing && this.pendingHead < this.pending.length) {
      this.handle(this.pending[this.pendingHead++]!);
    }
    if (this.closing || this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    }
  }

  private handle(frame: Frame): void {
    if (frame.op === 'auth') {
      this.authInFlight = true;
      this.socket.pause();
      void this.authenticate(frame.ident, frame.hash).finally(() => {
        this.authInFlight = false;
        if (this.closing) return;
        this.socket.resume();
        this.processPending();
      });
      return;
    }
    if (this.ident === undefined) {
      this.fail('invalid-first-message', 'First message was not AUTH');
      return;
    }
    switch (frame.op) {
      case 'publish':
        // These failures are counted under the ident in the frame, not the authenticated one, as in the reference.
        if (frame.ident !== this.ident) {
          this.fail('ident-mismatch-pub', `Invalid authkey in message, ident=${frame.ident}`, frame.ident);
        } else if (!this.pubchans.has(frame.channel)) {
          this.fail('no-pub-permission', `Authkey not allowed to pub here. ident=${frame.ident}, chan=${frame.channel}`, frame.ident);
        } else {
          this.ctx.publish(this, frame.channel, frame.payload);
        }
        return;
      case 'subscribe':
        if (!this.subchans.has(frame.channel)) {
          // The text names the authenticated ident, the metric label the frame's: both as in the reference.
          this.fail('no-sub-permission', `Authkey not allowed to sub here. ident=${this.ident}, chan=${frame.channel}`, frame.ident);
        } else {
          this.ctx.subscribe(this, frame.channel);
        }
        return;
      case 'unsubscribe':
        this.ctx.unsubscribe(this, frame.channel);
        return;
      default:
        this.fail('unexpected-opcode', `Unexpected ${frame.op.toUpperCase()} frame from a client`);
    }
  }

  private async authenticate(ident: string, hash: Buffer): Promise<void> {
    let record;
    try {
      record = await this.ctx.auth.lookup(ident);
    } catch (err) {
      this.log.error({ err, ident }, 'auth store lookup failed');
      this.fail('auth-store-error', `Authentication failed for ${ident}`, ident);
      return;
    }
    if (this.closing) return;
    // Auth failures are counted under the ident that was tried, as in the reference.
    if (!record) {
      this.fail('invalid-ident', `Authentication failed for ${ident}`, ident);
      return;
    }
    const expected = authHash(this.nonce, record.secret);
    if (hash.length !== expected.length || !timingSafeEqual(hash, expected)) {
      this.fail('invalid-secret', `Authentication failed for ${ident}`, ident);
      return;
    }
    const previous = this.ident;
    // Re-AUTH switches identity: subscriptions move to the new ident where its ACL allows them.
    const kept = [...this.channels].filter((c) => record.subchans.includes(c));
    for (const channel of [...this.channels]) this.ctx.unsubscribe(this, channel);
    clearTimeout(this.authTimer);
    this.ident = ident;
    this.owner = record.owner;
    this.pubchans = new Set(record.pubchans);
    this.subchans = new Set(record.subchans);
    for (const channel of kept) this.ctx.subscribe(this, channel);
    this.ctx.metrics.connectionReady.inc({ ident });
    this.log.info({ ident, owner: record.owner, reauth: previous !== undefined }, 'client authenticated');
  }

  private onDrain(): void {
    if (this.deadlineTimer && this.socket.writableLength <= this.ctx.sendBufferLimit) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      this.ctx.metrics.sendBufferDeadlineRecover.inc({ ident: this.ident ?? '' });
      this.log.info({ ident: this.ident }, 'slow subscriber recovered');
    }
  }

  private backpressureExpired(why: string): void {
    this.log.warn({ ident: this.ident, queued: this.socket.writableLength, why }, 'disconnecting slow subscriber');
    this.fail('deadline-timer-expired', 'Backpressure deadline timer expired');
  }

  private fail(category: string, text: string, ident = this.ident ?? ''): void {
    if (this.closing) return;
    this.ctx.metrics.connectionError.inc({ ident, category });
    this.log.warn({ ident, category, error: text }, 'closing connection after error');
    this.close(text);
  }

  private onClose(): void {
    clearTimeout(this.authTimer);
    clearTimeout(this.deadlineTimer);
    if (!this.closing) {
      this.closing = true;
      this.ctx.detach(this);
    }
    this.ctx.metrics.connectionLost.inc({ ident: this.ident ?? '' });
    this.log.debug({ ident: this.ident }, 'connection closed');
  }
}

const kebab = (code: string) => code.toLowerCase().replace(/_/g, '-');
