// Shared test fixtures: a broker on port 0 with known idents, reachable over TCP or TLS, and a raw
// protocol peer (socket + the library codec) for the protocol-level cases a well-behaved client cannot produce.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { authHash, encodeAuth, FrameDecoder, type Frame, type HpfeedsTlsOptions } from 'catchall-lmtp/hpfeeds';
import { MemoryAuthStore, type AuthRecord, type AuthStore } from '../src/auth/auth-store.js';
import { HpfeedsBroker, type HpfeedsBrokerOptions } from '../src/broker/broker.js';

export const IDENTS: AuthRecord[] = [
  { ident: 'writer', owner: 'collector', secret: 'writer-secret', pubchans: ['spam.mails', 'other'], subchans: [] },
  { ident: 'reader', owner: 'research', secret: 'reader-secret', pubchans: [], subchans: ['spam.mails', 'other'] },
  { ident: 'both', owner: 'tests', secret: 'both-secret', pubchans: ['spam.mails', 'other'], subchans: ['spam.mails', 'other'] },
];
export const SECRETS = Object.fromEntries(IDENTS.map((r) => [r.ident, r.secret]));

export type TransportKind = 'tcp' | 'tls';
export const TRANSPORT_KINDS: readonly TransportKind[] = ['tcp', 'tls'];

/** One endpoint kind as the tests use it: the broker's endpoint spec, raw sockets and the client's TLS options. */
export interface Transport {
  readonly kind: TransportKind;
  endpoint(port: number): string;
  /** A socket with the connection (and for TLS the verified handshake) established. Errors after
   *  that are ignored here: the tests observe the broker closing the connection instead. */
  connect(port: number): Promise<net.Socket>;
  /** The HpfeedsClient `tls` option that reaches this endpoint. */
  readonly clientTls: HpfeedsTlsOptions | undefined;
}

async function connected(socket: net.Socket, event: 'connect' | 'secureConnect'): Promise<net.Socket> {
  await once(socket, event); // rejects on an 'error' before it
  socket.on('error', () => {});
  return socket;
}

export const TCP: Transport = {
  kind: 'tcp',
  endpoint: (port) => `tcp:port=${port}:interface=127.0.0.1`,
  connect: (port) => connected(net.connect({ port, host: '127.0.0.1' }), 'connect'),
  clientTls: undefined,
};

export interface TestCertificate {
  cert: string;
  key: string;
  /** The certificate's PEM, to verify the broker with (it is its own CA). */
  ca: Buffer;
}

let certificate: Promise<TestCertificate> | undefined;

/** A self-signed certificate for localhost and 127.0.0.1, made once per test process (P-256: quick). */
export function testCertificate(): Promise<TestCertificate> {
  certificate ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpfeeds-tls-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { timeout: 30_000 });
    return { cert, key, ca: fs.readFileSync(cert) };
  })();
  return certificate;
}

export async function transport(kind: TransportKind): Promise<Transport> {
  if (kind === 'tcp') return TCP;
  const { cert, key, ca } = await testCertificate();
  return {
    kind,
    endpoint: (port) => `tls:port=${port}:interface=127.0.0.1:cert=${cert}:key=${key}`,
    connect: (port) => connected(tls.connect({ port, host: '127.0.0.1', ca }), 'secureConnect'),
    clientTls: { ca },
  };
}

export interface TestBroker {
  broker: HpfeedsBroker;
  port: number;
  via: Transport;
  /** A raw peer connected to this broker over its transport. */
  peer(): Promise<RawPeer>;
  /** A raw peer that has read INFO and sent AUTH (the ident's known secret unless given). */
  authed(ident: string, secret?: string): Promise<RawPeer>;
  close(): Promise<void>;
}

export async function startBroker(opts: Partial<HpfeedsBrokerOptions> & { auth?: AuthStore } = {}, via: Transport = TCP, port = 0): Promise<TestBroker> {
  const broker = new HpfeedsBroker({ auth: new MemoryAuthStore(IDENTS), ...opts });
  const bound = await broker.listen(via.endpoint(port));
  return {
    broker,
    port: bound.port,
    via,
    peer: () => RawPeer.connect(bound.port, via),
    authed: (ident, secret) => RawPeer.authed(bound.port, ident, secret, via),
    close: () => broker.close(),
  };
}

/** Subscriptions the broker has registered (the hpfeeds_broker_subscriptions gauge, summed). */
export async function subscriptionCount(broker: HpfeedsBroker): Promise<number> {
  return (await broker.metrics.subscriptions.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Waits until the broker has registered n subscriptions, so a publish cannot overtake a SUBSCRIBE. */
export function subscriptionsReach(broker: HpfeedsBroker, n: number): Promise<unknown> {
  return eventually(`${n} subscriptions`, async () => (await subscriptionCount(broker)) === n);
}

/** Rejects after ms with a message saying what was awaited, so no test can hang. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** Polls until check() is truthy (bounded). */
export async function eventually<T>(what: string, check: () => T | Promise<T>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A plain socket speaking hpfeeds through the library codec: sends exact bytes, reads frames. */
export class RawPeer {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder({ limits: { publish: 64 * 1024 * 1024, error: 64 * 1024 * 1024 } });
  private waiters: (() => void)[] = [];
  private ended = false;
  decodeError: Error | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(chunk));
      } catch (err) {
        this.decodeError = err as Error;
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
  }

  static async connect(port: number, via: Transport = TCP): Promise<RawPeer> {
    return new RawPeer(await via.connect(port));
  }

  /** Connects, reads INFO and authenticates. */
  static async authed(port: number, ident: string, secret = SECRETS[ident] ?? '', via: Transport = TCP): Promise<RawPeer> {
    const peer = await RawPeer.connect(port, via);
    const info = await peer.next();
    if (info.op !== 'info') throw new Error(`expected INFO, got ${info.op}`);
    peer.write(encodeAuth(ident, authHash(info.nonce, secret)));
    return peer;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame not yet taken (bounded wait). */
  async next(ms = 3000): Promise<Frame> {
    await within(ms, 'a frame from the broker', this.until(() => this.frames.length > 0 || this.ended));
    const f = this.frames.shift();
    if (!f) throw new Error(`connection closed without a frame${this.decodeError ? ` (${this.decodeError.message})` : ''}`);
    return f;
  }

  /** Expects ERROR with exactly this text, then the broker closing the connection. */
  async expectErrorAndClose(text: string | RegExp, ms = 3000): Promise<void> {
    const f = await this.next(ms);
    if (f.op !== 'error') throw new Error(`expected ERROR, got ${f.op}`);
    if (typeof text === 'string' ? f.text !== text : !text.test(f.text)) throw new Error(`ERROR text was "${f.text}", expected ${text}`);
    await within(ms, 'the broker to close the connection', this.closed);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (cond() ? resolve() : this.waiters.push(check));
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
