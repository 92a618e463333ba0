// The real RabbitMQ on 127.0.0.1:5672, seen from a test: unique names, a consumer that collects
// what arrives, rabbitmqctl to cut a connection, a TCP forwarder for a broker that "comes up later",
// and a log capture to read what the sink reported.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import pino from 'pino';

export const RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';
const run = promisify(execFile);

export const uniqueName = (what: string): string => `test.${what}.${process.pid}.${randomBytes(4).toString('hex')}`;

/** An admin connection of the test itself; close() deletes every exchange and queue it created. */
export class Admin {
  private readonly exchanges: string[] = [];
  private readonly queues: string[] = [];

  private constructor(
    private readonly conn: ChannelModel,
    readonly channel: Channel,
  ) {}

  static async open(): Promise<Admin> {
    const conn = await amqp.connect(RABBITMQ_URL);
    const channel = await conn.createChannel();
    return new Admin(conn, channel);
  }

  async exchange(name: string, type = 'topic', durable = false): Promise<string> {
    this.exchanges.push(name);
    await this.channel.assertExchange(name, type, { durable });
    return name;
  }

  /** A queue bound to `exchange`, collecting every message that arrives. */
  async consumer(exchange: string, pattern = 'spam.mails'): Promise<Consumer> {
    const queue = uniqueName('queue');
    this.queues.push(queue);
    await this.channel.assertQueue(queue, { durable: false, exclusive: true }); // gone with the connection, even if the test crashes
    await this.channel.bindQueue(queue, exchange, pattern);
    const consumer = new Consumer();
    await this.channel.consume(queue, (msg) => msg && consumer.messages.push(msg), { noAck: true });
    return consumer;
  }

  async close(): Promise<void> {
    for (const q of this.queues) await this.channel.deleteQueue(q).catch(() => undefined);
    for (const e of this.exchanges) await this.channel.deleteExchange(e).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

export class Consumer {
  readonly messages: ConsumeMessage[] = [];
}

/** Closes, from the broker side, the connection whose client property connection_name is `name`. */
export async function closeConnectionByName(name: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { timeout: 20_000 });
  const line = stdout.split('\n').find((l) => l.includes(`"${name}"`));
  const pid = line?.split('\t')[0];
  if (!pid) throw new Error(`no broker connection named ${name} in:\n${stdout}`);
  await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by a test'], { timeout: 20_000 });
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Forwards connections on `port` (0: any free port) to RabbitMQ: a broker address that starts
 * listening on demand, or, with a certificate, RabbitMQ behind TLS (it has no TLS listener here).
 * holdReplies() stops passing on what the broker sends (its confirms, say) until releaseReplies().
 */
export async function forwardToRabbitmq(
  port: number,
  tlsFiles?: { cert: string; key: string },
): Promise<{ port: number; close(): Promise<void>; holdReplies(): void; releaseReplies(): void }> {
  const sockets = new Set<net.Socket>();
  const pairs: Array<{ client: net.Socket; upstream: net.Socket }> = [];
  const forward = (client: net.Socket) => {
    const upstream = net.connect(5672, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    pairs.push({ client, upstream });
  };
  const server = tlsFiles
    ? tls.createServer({ cert: await readFile(tlsFiles.cert), key: await readFile(tlsFiles.key) }, forward)
    : net.createServer(forward);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    holdReplies: () => {
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    releaseReplies: () => {
      for (const { client, upstream } of pairs) if (!client.destroyed) upstream.pipe(client);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A pino logger whose lines are kept (parsed) for assertions. */
export function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}
