// hpfeeds client: connect (TCP or TLS), answer INFO with AUTH, publish with a real write confirmation,
// subscribe (async iterator and 'message' events), reconnect with backoff and resubscribe.
//
// What "connected" means. hpfeeds has no reply to a successful AUTH and no acknowledgement of a
// PUBLISH: the broker only ever answers a bad secret or a denied channel with ERROR and a close, and
// it handles frames strictly in order. So the client counts a connection as authenticated as soon as
// AUTH is handed to the socket, and `connect()` resolves then. An ERROR is surfaced ('error' event with
// an HpfeedsBrokerError, plus a log line), every publish not yet confirmed is rejected with its text,
// and the connection is dropped.
//
// With `errorGraceMs` (off by default; the collector's sink sets it) a publish is confirmed only once
// the broker has had time to refuse it: one the broker has not yet been seen to take on this
// connection (the first on a channel, or one in a larger size class than any taken there) resolves only after it was
// written and errorGraceMs passed without an ERROR; publishes written after a pending one wait for it,
// because the broker discards everything after the frame it refuses. And after a connection ended
// with an ERROR, the next one counts as connected only once it has lasted errorGraceMs without one.
// The gap that remains: a broker slower than errorGraceMs to answer, or one that dies after taking a
// frame; the protocol offers nothing to close it.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { pino, type Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff.js';
import {
  authHash,
  DEFAULT_MAX_FRAME,
  encodeAuth,
  encodePublishHead,
  encodeSubscribe,
  encodeUnsubscribe,
  FrameDecoder,
  publishFrameSize,
  type Frame,
} from './codec.js';
import { HpfeedsBrokerError, HpfeedsClientError, HpfeedsProtocolError } from './errors.js';
import { MessageIterator, type HpfeedsMessage } from './subscription.js';

export interface HpfeedsTlsOptions {
  /** PEM CA certificate(s) to verify the broker with, instead of the system store. */
  ca?: string | Buffer;
  /** false accepts any certificate (encrypted but unauthenticated). Default true. */
  rejectUnauthorized?: boolean;
  /** Name to verify the certificate against; default the host (when it is not an IP address). */
  servername?: string;
}

export interface HpfeedsClientOptions {
  host: string;
  port: number;
  ident: string;
  secret: string;
  /** true: TLS verified against the system CAs. */
  tls?: boolean | HpfeedsTlsOptions;
  /** Largest frame sent or accepted (PUBLISH and ERROR), in total bytes; default DEFAULT_MAX_FRAME. */
  maxFrameSize?: number;
  /** Default on: exponential backoff with full jitter, 500 ms doubling up to 30 s. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number } | false;
  /** Time from opening the socket to receiving INFO. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * How long a publish the broker has not yet been seen to take must go without an ERROR before it
   * resolves, and how long a connection after one ended by ERROR must last before it counts as
   * connected (see the top of this file). Default 0: publishes resolve once written.
   */
  errorGraceMs?: number;
  /** How long close() waits for unconfirmed publishes and for the broker to close its side. Default 5 s + errorGraceMs. */
  closeTimeoutMs?: number;
  /** Bytes a subscribe() iterator may queue for a lagging consumer before it is ended with
   *  SUBSCRIPTION_OVERFLOW. Default max(16 MiB, 4 × maxFrameSize). */
  subscriptionBufferBytes?: number;
  logger?: Logger;
}

export type { HpfeedsMessage };

// The reference sets TCP keepalive idle 10 s, interval 5 s, count 3. Node exposes only the idle time
// (setKeepAlive's initialDelay); interval and count cannot be set portably, so the OS defaults apply.
const KEEPALIVE_IDLE_MS = 10_000;

interface PendingPublish {
  /** The frame up to its payload, then the payload itself: written back to back, never copied together. */
  head: Buffer;
  payload: Buffer;
  /** Size class of the whole frame (see sizeClass). */
  sizeClass: number;
  channel: string;
  settled: boolean;
  /** When its write completed (performance.now()), for one waiting out the grace period. */
  writtenAt: number;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Frames are judged by size class (the power of two at or above their length), not exact length: the
 * broker's frame limit is what a bigger frame can run into, and messages of nearly the same size must
 * not each wait out the grace period, holding back every publish after them.
 */
function sizeClassOf(frameLength: number): number {
  return Math.ceil(Math.log2(Math.max(1, frameLength)));
}

/** One socket, from opening to close. Frames and the end go to the client through the callbacks. */
class Session {
  /** AUTH has been written to this socket and no ERROR has arrived. */
  authenticated = false;
  /** When AUTH was written; used to judge whether this session "worked" for the backoff. */
  authenticatedAt = 0;
  /** Counted as connected by the client (after an ERROR-ended session: only once it outlived the grace period). */
  up = false;
  brokerError: HpfeedsBrokerError | undefined;
  // Per channel, the largest size class of PUBLISH frame the broker took on this connection (it outlived
  // the grace period without an ERROR); a publish within that resolves once written, unless one before it waits.
  private readonly accepted = new Map<string, number>();
  // Written publishes waiting out the grace period, in write order.
  private held: PendingPublish[] = [];
  private graceTimer: NodeJS.Timeout | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private readonly decoder: FrameDecoder;
  // Publishes not yet confirmed by their write callback; `waiting` ones are not even written yet
  // (the socket needs 'drain' first) and are written strictly in order.
  private readonly pending = new Set<PendingPublish>();
  private readonly waiting: PendingPublish[] = [];
  private idleWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  private readonly connectTimer: NodeJS.Timeout;
  readonly closed: Promise<void>;

  constructor(
    readonly socket: net.Socket,
    where: string,
    maxFrameSize: number,
    connectTimeoutMs: number,
    private readonly errorGraceMs: number,
    onFrame: (s: Session, f: Frame) => void,
    onClose: (s: Session, reason: Error) => void,
  ) {
    this.decoder = new FrameDecoder({ limits: { publish: maxFrameSize, error: maxFrameSize } });
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail(new Error(`no INFO from the broker within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        if (!(err instanceof HpfeedsProtocolError)) throw err;
        this.fail(err);
        return;
      }
      // A frame handler may end the session (ERROR); the rest of the chunk is then irrelevant.
      for (const f of frames) if (!this.failure && !socket.destroyed) onFrame(this, f);
    });
    socket.on('drain', () => this.writeWaiting());
    socket.on('error', (err) => (this.failure ??= err));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        clearTimeout(this.connectTimer);
        clearTimeout(this.graceTimer);
        clearTimeout(this.authTimer);
        const reason = this.failure ?? new Error('connection closed by the broker');
        this.rejectPending(new HpfeedsClientError('CONNECTION_LOST',
          `connection to hpfeeds broker ${where} lost before the frame was written: ${reason.message}`, { cause: reason }));
        onClose(this, reason);
        resolve();
      }),
    );
  }

  infoReceived(): void {
    clearTimeout(this.connectTimer);
  }

  /** Calls `proven` once AUTH (written now) has outlived the grace period without an ERROR. */
  watchAuth(proven: () => void): void {
    this.authTimer = this.afterGrace(performance.now(), () => {
      if (this.usable()) proven();
    });
  }

  /** Writes a frame outside the publish queue (AUTH, SUBSCRIBE, UNSUBSCRIBE: small and unconfirmed). */
  writeControl(frame: Buffer, callback?: (err?: Error | null) => void): void {
    this.socket.write(frame, callback);
  }

  /**
   * Resolves on the write callback (or, for a publish the broker has not been seen to take, once it
   * also outlived the grace period); waits for 'drain' first while the socket is over its high-water mark.
   */
  publish(channel: string, head: Buffer, payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const sizeClass = sizeClassOf(head.length + payload.length);
      const p: PendingPublish = { head, payload, sizeClass, channel, settled: false, writtenAt: 0, resolve, reject };
      this.pending.add(p);
      if (this.waiting.length === 0 && !this.socket.writableNeedDrain) this.write(p);
      else this.waiting.push(p);
    });
  }

  /** Resolves when no publish is waiting for its write callback. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  rejectPending(err: Error): void {
    this.waiting.length = 0;
    for (const p of [...this.pending]) this.settle(p, err);
  }

  /** Ends the session because of err (idempotent); 'close' follows. */
  fail(err: Error): void {
    this.failure ??= err;
    this.authenticated = false;
    this.socket.destroy();
  }

  private write(p: PendingPublish): void {
    this.socket.cork(); // one writev for both parts
    this.socket.write(p.head);
    this.socket.write(p.payload, (err) => {
      // On an error the socket is destroyed and the close handler rejects p with the reason.
      if (!err) this.written(p);
    });
    this.socket.uncork();
  }

  private written(p: PendingPublish): void {
    if (this.held.length === 0 && this.taken(p)) {
      this.settle(p);
      return;
    }
    p.writtenAt = performance.now();
    this.held.push(p);
    this.graceTimer ??= this.afterGrace(this.held[0]!.writtenAt, () => {
      this.graceTimer = undefined;
      this.releaseHeld();
    });
  }

  private taken(p: PendingPublish): boolean {
    return this.errorGraceMs === 0 || (this.accepted.get(p.channel) ?? -1) >= p.sizeClass;
  }

  // The broker handles frames in order and closes at the first it refuses: a publish that outlived the
  // grace period was taken, and so was everything before it. One after a publish still waiting must wait too.
  private releaseHeld(): void {
    if (!this.usable()) return; // the close handler rejects them
    const now = performance.now();
    let released = 0;
    for (const p of this.held) {
      if (p.writtenAt + this.errorGraceMs <= now) this.accepted.set(p.channel, Math.max(this.accepted.get(p.channel) ?? 0, p.sizeClass));
      else if (!this.taken(p)) break;
      released++;
    }
    const done = this.held.slice(0, released);
    this.held = this.held.slice(released);
    for (const p of done) this.settle(p);
    if (this.held.length > 0) {
      this.graceTimer = this.afterGrace(this.held[0]!.writtenAt, () => {
        this.graceTimer = undefined;
        this.releaseHeld();
      });
    }
  }

  // setImmediate after the timer: if the event loop was blocked, an ERROR that arrived meanwhile is read
  // (poll phase) before this runs, instead of the timer (which runs first) deciding without it.
  private afterGrace(since: number, then: () => void): NodeJS.Timeout {
    const wait = Math.max(0, since + this.errorGraceMs - performance.now());
    return setTimeout(() => setImmediate(then), wait);
  }

  private usable(): boolean {
    return !this.failure && !this.brokerError && !this.socket.destroyed;
  }

  private writeWaiting(): void {
    while (this.waiting.length > 0 && !this.socket.writableNeedDrain) this.write(this.waiting.shift()!);
  }

  private settle(p: PendingPublish, err?: Error): void {
    if (p.settled) return;
    p.settled = true;
    this.pending.delete(p);
    if (err) p.reject(err);
    else p.resolve();
    if (this.pending.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

export class HpfeedsClient extends EventEmitter {
  private readonly opts: HpfeedsClientOptions;
  private readonly where: string;
  private readonly log: Logger;
  private readonly maxFrameSize: number;
  private readonly errorGraceMs: number;
  /** The text of the ERROR that ended the last session, until a session outlives the grace period. */
  private errorOnProbation: string | undefined;
  private readonly reconnectDelays: BackoffOptions | undefined;
  private readonly backoff: Backoff | undefined;
  private session: Session | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connectWaiter: { resolve(): void; reject(err: Error): void; promise: Promise<void> } | undefined;
  private lastError: Error | undefined;
  private closing: Promise<void> | undefined;
  // Subscribed channels (re-sent after every reconnect) and the iterators reading each one.
  private readonly channels = new Map<string, Set<MessageIterator>>();

  constructor(opts: HpfeedsClientOptions) {
    super();
    this.opts = opts;
    this.where = `${opts.host}:${opts.port}`;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ hpfeeds: this.where, ident: opts.ident });
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
    this.errorGraceMs = opts.errorGraceMs ?? 0;
    if (!(this.errorGraceMs >= 0)) throw new HpfeedsClientError('INVALID_ARGUMENT', `errorGraceMs must be >= 0, got ${opts.errorGraceMs}`);
    if (opts.reconnect !== false) {
      this.reconnectDelays = { initialDelayMs: opts.reconnect?.initialDelayMs ?? 500, maxDelayMs: opts.reconnect?.maxDelayMs ?? 30_000 };
      this.backoff = new Backoff(this.reconnectDelays);
    }
    // Validate once here, so a bad ident fails at construction rather than on every connection.
    try {
      encodeAuth(opts.ident, Buffer.alloc(20));
    } catch (err) {
      throw new HpfeedsClientError('INVALID_ARGUMENT', `hpfeeds ident: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * AUTH has been written on the current socket and neither ERROR nor a close has followed; after a
   * session ended by ERROR, also errorGraceMs have passed on this one.
   */
  get connected(): boolean {
    return this.session?.authenticated === true && this.session.up && !this.closing;
  }

  /** Resolves once the client counts as connected (see `connected`); rejects if this attempt fails (reconnects continue). */
  connect(): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    if (this.connected) return Promise.resolve();
    if (!this.connectWaiter) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      this.connectWaiter = { resolve, reject, promise };
    }
    if (!this.session) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.open();
    }
    return this.connectWaiter.promise;
  }

  /**
   * Resolves once the PUBLISH frame is written to an authenticated socket (write callback) and, with
   * errorGraceMs, once the broker had that long to refuse it when it has not yet taken a frame like it
   * on this connection. Under backpressure it waits for 'drain' rather than buffering. Rejects with
   * HpfeedsClientError when it is not connected, the frame is over maxFrameSize, the client closes,
   * the connection drops or the broker sends ERROR before it resolved. Never drops silently.
   */
  publish(channel: string, payload: Buffer | string): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    const session = this.session;
    if (!session?.authenticated || !session.up) {
      if (session?.authenticated && this.errorOnProbation !== undefined) {
        return Promise.reject(new HpfeedsClientError('NOT_CONNECTED',
          `hpfeeds broker ${this.where}: the last connection ended with ERROR "${this.errorOnProbation}"; waiting ${this.errorGraceMs} ms without one on the new connection`));
      }
      const why = this.lastError ? ` (last error: ${this.lastError.message})` : '';
      return Promise.reject(new HpfeedsClientError('NOT_CONNECTED', `not connected to hpfeeds broker ${this.where}${why}`, { cause: this.lastError }));
    }
    const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const size = publishFrameSize(this.opts.ident, channel, body.length);
    if (size > this.maxFrameSize) {
      return Promise.reject(new HpfeedsClientError('FRAME_TOO_LARGE',
        `PUBLISH frame of ${size} bytes (payload ${body.length} bytes) exceeds maxFrameSize of ${this.maxFrameSize} bytes`));
    }
    let head: Buffer;
    try {
      head = encodePublishHead(this.opts.ident, channel, body.length);
    } catch (err) {
      return Promise.reject(new HpfeedsClientError('INVALID_ARGUMENT', `cannot publish to channel: ${(err as Error).message}`, { cause: err }));
    }
    return session.publish(channel, head, body);
  }

  /**
   * Subscribes to a channel (sent now if connected, and again after every reconnect) and returns an
   * iterator of its messages; every message is also emitted as 'message'. Ending the iterator (break)
   * does not unsubscribe; unsubscribe() does, and ends the channel's iterators.
   */
  subscribe(channel: string): AsyncIterableIterator<HpfeedsMessage> {
    if (this.closing) throw this.closedError();
    let iterators = this.channels.get(channel);
    if (!iterators) {
      const frame = this.encodeChannelFrame(encodeSubscribe, channel);
      iterators = new Set();
      this.channels.set(channel, iterators);
      if (this.session?.authenticated && !this.closing) this.session.writeControl(frame);
    }
    const maxQueued = this.opts.subscriptionBufferBytes ?? Math.max(16 * 1024 * 1024, 4 * this.maxFrameSize);
    const it = new MessageIterator(channel, maxQueued, (i, overflow) => {
      this.channels.get(channel)?.delete(i);
      if (overflow) this.log.warn({ channel, maxQueuedBytes: maxQueued }, 'subscription iterator overflowed and was ended');
    });
    iterators.add(it);
    return it;
  }

  unsubscribe(channel: string): void {
    const iterators = this.channels.get(channel);
    if (!iterators) return;
    this.channels.delete(channel);
    for (const it of iterators) it.end();
    if (this.session?.authenticated && !this.closing) this.session.writeControl(this.encodeChannelFrame(encodeUnsubscribe, channel));
  }

  /**
   * Stops reconnecting and rejects new publishes; waits (up to closeTimeoutMs) for accepted publishes to
   * be written, half-closes the socket and waits for the broker to close its side, so that an ERROR it
   * sends in reply to the last frames is still surfaced. Whatever is still pending then is rejected.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const session = this.session;
    const timeoutMs = this.opts.closeTimeoutMs ?? 5000 + this.errorGraceMs;
    if (session) {
      const deadline = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
      if (session.authenticated) await Promise.race([session.idle(), deadline]);
      session.rejectPending(this.closedError());
      session.socket.end();
      await Promise.race([session.closed, deadline]);
      session.socket.destroy();
      await session.closed;
    }
    this.connectWaiter?.reject(this.closedError());
    this.connectWaiter = undefined;
    for (const iterators of this.channels.values()) for (const it of iterators) it.end();
    this.channels.clear();
    this.log.info('hpfeeds client closed');
  }

  // ------------------------------------------------------------------------------------------ internals

  private open(): void {
    this.log.debug('connecting');
    const socket = this.createSocket();
    this.session = new Session(
      socket,
      this.where,
      this.maxFrameSize,
      this.opts.connectTimeoutMs ?? 10_000,
      this.errorGraceMs,
      (s, f) => this.onFrame(s, f),
      (s, reason) => this.onClose(s, reason),
    );
  }

  private createSocket(): net.Socket {
    const { host, port } = this.opts;
    const t = this.opts.tls;
    if (!t) return net.connect({ host, port });
    const o: HpfeedsTlsOptions = t === true ? {} : t;
    return tls.connect({
      host,
      port,
      ca: o.ca,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      servername: o.servername ?? (net.isIP(host) ? undefined : host),
    });
  }

  private onFrame(s: Session, f: Frame): void {
    if (f.op === 'error') {
      this.onBrokerError(s, f.text);
      return;
    }
    if (!s.authenticated) {
      if (f.op !== 'info') {
        s.fail(new Error(`expected INFO from the broker, got ${f.op.toUpperCase()}`));
        return;
      }
      // close() half-closed the socket before INFO came: nothing more may be written to it.
      if (!s.socket.writable) return;
      this.authenticate(s, f.nonce, f.name);
      return;
    }
    if (f.op === 'publish') {
      const message: HpfeedsMessage = { ident: f.ident, channel: f.channel, payload: f.payload };
      for (const it of this.channels.get(f.channel) ?? []) it.push(message);
      this.emit('message', message);
      return;
    }
    // INFO again, or a client-only opcode: harmless, but a sign of a confused broker.
    this.log.warn({ op: f.op }, 'ignoring unexpected frame from the broker');
  }

  // AUTH right after INFO, then the subscriptions, pipelined (the broker buffers them during its check).
  private authenticate(s: Session, nonce: Buffer, brokerName: string): void {
    s.infoReceived();
    s.authenticated = true;
    s.authenticatedAt = Date.now();
    s.writeControl(encodeAuth(this.opts.ident, authHash(nonce, this.opts.secret)), (err) => {
      if (err || !s.authenticated || this.session !== s) return; // the close handler reports it
      const onProbation = this.errorOnProbation !== undefined;
      if (!onProbation) this.markUp(s, brokerName);
      else this.log.info({ broker: brokerName, graceMs: this.errorGraceMs, lastBrokerError: this.errorOnProbation }, 'hpfeeds AUTH sent; not publishing until the connection outlives the grace period');
      s.watchAuth(() => {
        if (this.session !== s) return;
        this.errorOnProbation = undefined;
        if (onProbation) this.markUp(s, brokerName);
      });
    });
    for (const channel of this.channels.keys()) s.writeControl(encodeSubscribe(this.opts.ident, channel));
  }

  private markUp(s: Session, brokerName: string): void {
    s.up = true;
    this.lastError = undefined;
    this.log.info({ broker: brokerName, channels: [...this.channels.keys()] }, 'hpfeeds connected');
    this.connectWaiter?.resolve();
    this.connectWaiter = undefined;
    this.emit('connected');
  }

  private onBrokerError(s: Session, text: string): void {
    const err = new HpfeedsBrokerError(text);
    this.log.warn({ error: text }, 'hpfeeds broker sent ERROR');
    s.brokerError = err;
    // The next connection would most likely be refused the same way (bad secret, denied channel).
    if (this.errorGraceMs > 0) this.errorOnProbation = text;
    s.rejectPending(new HpfeedsClientError('BROKER_ERROR', `broker sent ERROR before the publish was accepted: ${text}`, { cause: err }));
    // An 'error' event without a listener would throw and crash the process; the log line above suffices then.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    s.fail(err);
  }

  private onClose(s: Session, reason: Error): void {
    if (this.session !== s) return;
    this.session = undefined;
    this.lastError = reason;
    const wasUp = s.authenticatedAt > 0;
    if (this.connectWaiter && !this.closing) {
      this.connectWaiter.reject(new HpfeedsClientError('CONNECT_FAILED', `cannot connect to hpfeeds broker ${this.where}: ${reason.message}`, { cause: reason }));
      this.connectWaiter = undefined;
    }
    if (wasUp) {
      this.log.warn({ err: reason }, 'hpfeeds disconnected');
      this.emit('disconnected', reason);
    } else if (!this.closing) {
      this.log.warn({ err: reason }, 'hpfeeds connection attempt failed');
    }
    if (this.closing || !this.backoff || !this.reconnectDelays) return;
    // A session that authenticated, got no ERROR and stayed up a while worked: start over with short
    // delays. One ended by ERROR (bad secret, denied channel) would fail the same way: keep backing off.
    if (wasUp && !s.brokerError && Date.now() - s.authenticatedAt >= this.reconnectDelays.initialDelayMs) this.backoff.reset();
    const delay = this.backoff.next();
    this.log.info({ delayMs: delay }, 'hpfeeds reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closing && !this.session) this.open();
    }, delay);
  }

  private encodeChannelFrame(encode: (ident: string, channel: string) => Buffer, channel: string): Buffer {
    try {
      return encode(this.opts.ident, channel);
    } catch (err) {
      throw new HpfeedsClientError('INVALID_ARGUMENT', `channel: ${(err as Error).message}`, { cause: err });
    }
  }

  private closedError(): HpfeedsClientError {
    return new HpfeedsClientError('CLOSED', `hpfeeds client for ${this.where} is closed`);
  }
}
