// The hpfeeds broker: listeners (TCP and TLS), the set of live connections, channel subscriptions and
// the fan-out of each PUBLISH to a channel's subscribers. Session logic lives in connection.ts.
import fs from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_MAX_FRAME, encodeError, encodePublish } from 'catchall-lmtp/hpfeeds';
import type { AuthStore } from '../auth/auth-store.js';
import { BrokerConnection, type ConnectionContext } from './connection.js';
import { formatEndpoint, parseEndpoint, type Endpoint } from './endpoint.js';
import { BrokerMetrics, type BufferSample } from './metrics.js';

export interface HpfeedsBrokerOptions {
  auth: AuthStore;
  /** Broker name sent in INFO; the reference uses "hpfeeds". */
  name?: string;
  /** Largest PUBLISH (and ERROR) frame accepted, in total bytes; default 5 + 1 MiB as in the reference. */
  maxFrameSize?: number;
  /** Connections beyond this get an ERROR and are closed. Default 10 000. */
  maxConnections?: number;
  /** Bytes queued for one subscriber before it is put on the backpressure deadline; the queue may
   *  grow to twice this while the deadline runs. Default max(8 MiB, 2 × maxFrameSize). */
  sendBufferLimit?: number;
  /** How long a subscriber may stay over sendBufferLimit before it is disconnected. Default 10 s. */
  backpressureDeadlineMs?: number;
  /** A connection must authenticate within this time. Default 30 s. */
  authTimeoutMs?: number;
  logger?: Logger;
  /** Where the Prometheus metrics are registered; default a private registry. */
  registry?: Registry;
}

export interface BoundEndpoint {
  kind: Endpoint['kind'];
  host: string;
  port: number;
}

export class HpfeedsBroker {
  readonly registry: Registry;
  readonly metrics: BrokerMetrics;
  private readonly ctx: ConnectionContext;
  private readonly maxConnections: number;
  private readonly logger: Logger;
  private readonly servers: net.Server[] = [];
  private readonly connections = new Set<BrokerConnection>();
  private readonly subscribers = new Map<string, Set<BrokerConnection>>();
  private closing = false;

  constructor(opts: HpfeedsBrokerOptions) {
    const maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
    this.logger = opts.logger ?? pino({ level: 'silent' });
    this.maxConnections = opts.maxConnections ?? 10_000;
    this.registry = opts.registry ?? new Registry();
    this.metrics = new BrokerMetrics(this.registry, () => this.bufferSamples());
    this.ctx = {
      name: opts.name ?? 'hpfeeds',
      auth: opts.auth,
      metrics: this.metrics,
      logger: this.logger,
      maxFrameSize,
      sendBufferLimit: opts.sendBufferLimit ?? Math.max(8 * 1024 * 1024, 2 * maxFrameSize),
      backpressureDeadlineMs: opts.backpressureDeadlineMs ?? 10_000,
      authTimeoutMs: opts.authTimeoutMs ?? 30_000,
      subscribe: (conn, channel) => this.subscribe(conn, channel),
      unsubscribe: (conn, channel) => this.unsubscribe(conn, channel),
      publish: (conn, channel, payload) => this.publish(conn, channel, payload),
      detach: (conn) => this.detach(conn),
    };
  }

  /** True while at least one listener accepts connections. */
  get listening(): boolean {
    return !this.closing && this.servers.some((s) => s.listening);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Starts accepting on an endpoint ("tcp:port=0", "tls:port=…:cert=…:key=…"); resolves to the bound address. */
  async listen(endpoint: string | Endpoint): Promise<BoundEndpoint> {
    if (this.closing) throw new Error('broker is closed');
    const ep = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
    const server =
      ep.kind === 'tls'
        ? tls.createServer({ cert: await readPem(ep.cert, 'cert'), key: await readPem(ep.key, 'key') }, (s) => this.accept(s))
        : net.createServer((s) => this.accept(s));
    if (ep.kind === 'tls') {
      server.on('tlsClientError', (err: Error, s: tls.TLSSocket) =>
        this.logger.debug({ err, peer: `${s.remoteAddress}:${s.remotePort}` }, 'TLS handshake failed'),
      );
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: ep.port, host: ep.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ err, endpoint: formatEndpoint(ep) }, 'listener error'));
    this.servers.push(server);
    const addr = server.address() as net.AddressInfo;
    const bound: BoundEndpoint = { kind: ep.kind, host: addr.address, port: addr.port };
    this.logger.info({ endpoint: formatEndpoint(ep), ...bound }, 'listening');
    return bound;
  }

  /** Stops listening, closes every client connection and waits (bounded) for them to go. The auth
   *  store belongs to the caller and stays open. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const conns = [...this.connections];
    for (const c of conns) c.close();
    await Promise.all([...stopped, ...conns.map((c) => c.closed)]);
    this.logger.info('broker closed');
  }

  private accept(socket: net.Socket): void {
    this.metrics.connectionMade.inc();
    if (this.closing || this.connections.size >= this.maxConnections) {
      this.metrics.connectionError.inc({ ident: '', category: 'too-many-connections' });
      this.logger.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, limit: this.maxConnections }, 'connection refused: limit reached');
      socket.on('error', () => {});
      socket.end(encodeError(this.closing ? 'Broker is shutting down' : `Too many connections (limit ${this.maxConnections})`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn = new BrokerConnection(socket, this.ctx);
    this.connections.add(conn);
    this.metrics.clientConnections.inc();
    void conn.closed.then(() => {
      this.connections.delete(conn);
      this.metrics.clientConnections.dec();
    });
  }

  private subscribe(conn: BrokerConnection, channel: string): void {
    if (conn.channels.has(channel)) return; // the reference would deliver twice; once is enough
    let set = this.subscribers.get(channel);
    if (!set) this.subscribers.set(channel, (set = new Set()));
    set.add(conn);
    conn.channels.add(channel);
    this.metrics.subscriptions.inc({ ident: conn.ident ?? '', chan: channel });
  }

  private unsubscribe(conn: BrokerConnection, channel: string): void {
    if (!conn.channels.delete(channel)) return;
    const set = this.subscribers.get(channel);
    set?.delete(conn);
    if (set?.size === 0) this.subscribers.delete(channel);
    this.metrics.subscriptions.dec({ ident: conn.ident ?? '', chan: channel });
  }

  // The frame is encoded once, with the publisher's authenticated ident, and shared by all subscribers.
  private publish(source: BrokerConnection, channel: string, payload: Buffer): void {
    const ident = source.ident ?? '';
    this.metrics.receivePublishCount.inc({ ident, chan: channel });
    this.metrics.receivePublishSize.observe({ ident, chan: channel }, payload.length);
    const set = this.subscribers.get(channel);
    if (!set || set.size === 0) return;
    const frame = encodePublish(ident, channel, payload);
    for (const dest of [...set]) dest.deliver(frame);
  }

  private detach(conn: BrokerConnection): void {
    for (const channel of [...conn.channels]) this.unsubscribe(conn, channel);
  }

  private *bufferSamples(): Iterable<BufferSample> {
    for (const c of this.connections) {
      if (c.ident !== undefined) yield { ident: c.ident, sendBytes: c.socket.writableLength, receiveBytes: c.receiveBuffered };
    }
  }
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new Error(`cannot read TLS ${what} file ${file}: ${(err as Error).message}`);
  }
}
