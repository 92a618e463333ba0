// Shared test fixtures: a broker on port 0 with known idents, and a raw protocol peer (plain socket +
// the library codec) for the protocol-level cases a well-behaved client cannot produce.
import { once } from 'node:events';
import net from 'node:net';
import { authHash, encodeAuth, FrameDecoder, type Frame } from 'catchall-lmtp/hpfeeds';
import { MemoryAuthStore, type AuthRecord, type AuthStore } from '../src/auth/auth-store.js';
import { HpfeedsBroker, type HpfeedsBrokerOptions } from '../src/broker/broker.js';

export const IDENTS: AuthRecord[] = [
  { ident: 'writer', owner: 'collector', secret: 'writer-secret', pubchans: ['spam.mails', 'other'], subchans: [] },
  { ident: 'reader', owner: 'research', secret: 'reader-secret', pubchans: [], subchans: ['spam.mails', 'other'] },
  { ident: 'both', owner: 'tests', secret: 'both-secret', pubchans: ['spam.mails', 'other'], subchans: ['spam.mails', 'other'] },
];
export const SECRETS = Object.fromEntries(IDENTS.map((r) => [r.ident, r.secret]));

export interface TestBroker {
  broker: HpfeedsBroker;
  port: number;
  close(): Promise<void>;
}

export async function startBroker(opts: Partial<HpfeedsBrokerOptions> & { auth?: AuthStore } = {}, endpoint = 'tcp:port=0:interface=127.0.0.1'): Promise<TestBroker> {
  const broker = new HpfeedsBroker({ auth: new MemoryAuthStore(IDENTS), ...opts });
  const { port } = await broker.listen(endpoint);
  return { broker, port, close: () => broker.close() };
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
    socket.on('error', () => {}); // resets after the broker closes are part of several tests
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    const socket = net.connect({ port, host });
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  /** Connects, reads INFO and authenticates; returns the peer and the INFO frame. */
  static async authed(port: number, ident: string, secret = SECRETS[ident] ?? ''): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
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
