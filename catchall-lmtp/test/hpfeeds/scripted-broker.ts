// A real TCP (or TLS) server that speaks hpfeeds through the library codec, driven step by step by the
// test: it sends INFO with a chosen nonce, records every byte and frame the client sends, and can send
// frames, stop reading, or drop the connection at exactly the moment a protocol-level test needs.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { encodeInfo, FrameDecoder, type Frame } from '../../src/hpfeeds/index.js';

export const NONCE = Buffer.from('a1b2c3d4', 'hex');

/** Rejects after ms, naming what was awaited, so that no test can hang. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** Polls until check() holds (bounded). */
export async function eventually(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The broker's side of one client connection. */
export class BrokerSide {
  readonly frames: Frame[] = [];
  private readonly chunks: Buffer[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder({ limits: { publish: 256 * 1024 * 1024 } });
  private taken = 0;
  private wake: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.frames.push(...this.decoder.push(chunk));
      this.wake?.();
    });
    socket.on('error', () => {}); // resets are expected when tests drop connections
    this.closed = new Promise((resolve) => socket.once('close', () => (this.wake?.(), resolve())));
  }

  /** Every byte received so far, for byte-exact assertions. */
  get raw(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** The next frame not yet taken by next(). */
  async next(ms = 3000): Promise<Frame> {
    await within(ms, 'a frame from the client', this.until(() => this.frames.length > this.taken));
    return this.frames[this.taken++]!;
  }

  /** Waits until n frames have arrived in total. */
  async waitFrames(n: number, ms = 5000): Promise<Frame[]> {
    await within(ms, `${n} frames from the client (have ${this.frames.length})`, this.until(() => this.frames.length >= n));
    return this.frames;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  private until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (cond() || this.socket.destroyed) {
          this.wake = undefined;
          resolve();
        } else this.wake = check;
      };
      check();
    });
  }
}

export interface ScriptedBrokerOptions {
  /** INFO sent on connect; false sends nothing (a silent server). */
  info?: { name: string; nonce: Buffer } | false;
  tls?: { cert: string; key: string };
}

export class ScriptedBroker {
  readonly connections: BrokerSide[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(opts: ScriptedBrokerOptions = {}, port = 0): Promise<ScriptedBroker> {
    const info = opts.info === undefined ? { name: 'hpfeeds', nonce: NONCE } : opts.info;
    let broker: ScriptedBroker | undefined;
    const onSocket = (socket: net.Socket) => {
      const side = new BrokerSide(socket);
      if (info) socket.write(encodeInfo(info.name, info.nonce));
      broker!.connections.push(side);
      for (const w of broker!.waiters.splice(0)) w();
    };
    const server = opts.tls ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onSocket) : net.createServer(onSocket);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    broker = new ScriptedBroker(server, (server.address() as net.AddressInfo).port);
    return broker;
  }

  /** The n-th connection (0-based), waiting for it to arrive (bounded). */
  async connection(n: number, ms = 5000): Promise<BrokerSide> {
    await within(ms, `client connection #${n + 1}`, new Promise<void>((resolve) => {
      const check = () => (this.connections.length > n ? resolve() : this.waiters.push(check));
      check();
    }));
    return this.connections[n]!;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
