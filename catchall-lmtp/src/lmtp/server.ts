// The LMTP listener (RFC 2033) on top of nodemailer's smtp-server in `lmtp` mode. Every recipient is
// accepted (catch-all); after DATA, one reply per recipient comes from the Delivery. Nothing here
// ever answers a message with 5xx: what cannot be stored now gets a 4xx so that Postfix retries.
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Delivery, RecipientResult } from '../delivery/delivery.js';
import type { Metrics } from '../ops/metrics.js';
import { messageDone } from '../ops/release-memory.js';
import { ReceivedMessage, type Envelope } from '../sinks/sink.js';
import './any-address.js';
import './data-scanner.js';
import './data-timeout.js';
import './greeting-delay.js';
import './xforward.js';
import { Collect, Sha256, SizeLimit, readMessage } from './message-stream.js';

export interface LmtpServerOptions {
  host?: string;
  port?: number;
  /** Unix socket path; when set, host and port are not used. */
  socket?: string;
  maxMessageSize: number;
  maxRecipients: number;
  maxConnections: number;
  idleTimeoutMs: number;
  /** Deadline of one DATA transfer, from the 354 to the final dot (see data-timeout.ts). */
  dataTimeoutMs?: number;
  /** On stop(), how long sessions in the middle of a message may take to finish. */
  drainTimeoutMs: number;
  useXForward: boolean;
  hostname?: string;
  delivery: Delivery;
  logger: Logger;
  metrics: Metrics;
}

/** Options of our own smtp-server adaptations (see greeting-delay.ts and any-address.ts). */
const CATCH_ALL_OPTIONS = {
  greetingDelay: false, // Postfix waits for the greeting; no 100 ms early-talker pause per connection
  acceptAnyAddress: true, // every address Postfix hands over is taken as written, never a 501
  xForwardAsSent: true, // XFORWARD values (HELO's case, odd NAMEs) as Postfix sent them, never a 501
};

export type ListenAddress = { host: string; port: number } | { socket: string };

export class LmtpServer {
  private readonly smtp: SMTPServer;
  private readonly log: Logger;
  /** Sessions (by id) whose message is being received or delivered right now. */
  private readonly busy = new Set<string>();
  private stopping = false;
  private listening = false;
  private address?: ListenAddress;

  constructor(private readonly options: LmtpServerOptions) {
    this.log = options.logger.child({ component: 'lmtp' });
    this.smtp = new SMTPServer({
      lmtp: true,
      name: options.hostname ?? os.hostname(),
      banner: 'catchall-lmtp',
      // Advertised in LHLO: Postfix bounces SMTPUTF8 mail to a next hop that does not offer it.
      hidePIPELINING: false,
      hide8BITMIME: false,
      hideSMTPUTF8: false,
      hideENHANCEDSTATUSCODES: false,
      hideSTARTTLS: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      // No `size` option on purpose: smtp-server would answer an oversize MAIL SIZE= with 552 (5xx).
      // The limit is enforced while streaming, with a 4xx per recipient.
      maxRecipients: options.maxRecipients,
      maxClients: options.maxConnections,
      socketTimeout: options.idleTimeoutMs,
      dataTimeout: options.dataTimeoutMs,
      closeTimeout: options.drainTimeoutMs,
      useXForward: options.useXForward,
      disableReverseLookup: true,
      ...CATCH_ALL_OPTIONS,
      logger: false,
      onConnect: (_session, callback) => {
        if (this.stopping) {
          const err = Object.assign(new Error('Server shutting down, try again later'), { responseCode: 421 });
          return callback(err);
        }
        callback();
      },
      // Catch-all: every sender and recipient is taken at once. smtp-server's default handlers wait
      // an event-loop turn each, so the replies to a pipelined MAIL, RCPT and DATA left in separate
      // segments; answered synchronously they go out together (see the cork below).
      onMailFrom: (_address, _session, callback) => callback(),
      onRcptTo: (_address, _session, callback) => callback(),
      onData: (stream, session, callback) => {
        this.busy.add(session.id);
        this.receive(stream, session)
          .then(
            (replies) => callback(null, replies),
            (err: Error) => callback(err),
          )
          .finally(() => {
            messageDone(stream.byteLength);
            this.busy.delete(session.id);
            if (this.stopping) setImmediate(() => this.closeIdleConnections());
          });
      },
    });
    this.smtp.on('error', (err) => this.log.error({ err }, 'LMTP server error'));
    this.smtp.server.on('connection', (socket) => {
      options.metrics.sessions.inc();
      socket.once('close', () => options.metrics.sessions.dec());
      // Replies to pipelined commands are written one by one; holding them until the chunk that
      // carried the commands is processed sends them in one segment (fewer syscalls under load).
      socket.prependListener('data', () => {
        socket.cork();
        process.nextTick(() => socket.uncork());
      });
    });
  }

  /** Binds the listener; resolves with the bound address (the real port when port 0 was asked for). */
  async start(): Promise<ListenAddress> {
    const { socket, host = '127.0.0.1', port = 24 } = this.options;
    if (socket) removeStaleSocket(socket);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.smtp.server.once('error', onError);
      const ready = () => {
        this.smtp.server.off('error', onError);
        resolve();
      };
      if (socket) this.smtp.listen(socket, ready);
      else this.smtp.listen(port, host, ready);
    });
    const bound = this.smtp.server.address();
    this.address = socket || typeof bound !== 'object' || !bound ? { socket: socket ?? String(bound) } : { host: bound.address, port: bound.port };
    this.listening = true;
    this.log.info({ address: this.address }, 'LMTP listening');
    return this.address;
  }

  isListening(): boolean {
    return this.listening && !this.stopping;
  }

  /**
   * Stops accepting connections, lets messages in progress finish (their replies are sent), closes
   * idle sessions with 421, and resolves once every connection is gone (at most drainTimeoutMs).
   */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.smtp.close(resolve));
    this.closeIdleConnections();
    await closed;
    this.listening = false;
    if (this.options.socket) removeStaleSocket(this.options.socket);
    this.log.info('LMTP stopped');
  }

  private closeIdleConnections(): void {
    for (const connection of this.smtp.connections) {
      const id = (connection as unknown as { id: string }).id;
      if (this.busy.has(id)) continue;
      connection.send(421, 'Server shutting down, try again later');
      connection.close();
    }
  }

  /** Receives one message, hands it to the delivery, and turns the outcome into LMTP replies. */
  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<Array<string | Error>> {
    const started = process.hrtime.bigint();
    const limit = new SizeLimit(this.options.maxMessageSize);
    const hash = new Sha256();
    const sink = new Collect();
    const envelope = envelopeOf(session);
    const logBase = { recipients: envelope.rcptTo.length, client: envelope.clientAddress, mailFrom: envelope.mailFrom };
    try {
      await readMessage(stream, limit, hash, sink);
    } catch (err) {
      // The client went away mid-DATA: there is nobody to reply to, and nothing was accepted.
      this.options.metrics.messages.inc({ result: 'aborted' });
      this.log.warn({ ...logBase, size: limit.size, err: (err as Error).message }, 'message aborted: client disconnected during DATA');
      throw err;
    }
    if (limit.exceeded) {
      this.options.metrics.messages.inc({ result: 'oversize' });
      const text = `Message of ${limit.size} bytes exceeds the size limit of ${this.options.maxMessageSize} bytes`;
      this.log.warn({ ...logBase, size: limit.size, limit: this.options.maxMessageSize, outcome: 'oversize' }, 'message refused: too big');
      return envelope.rcptTo.map(() => replyFor({ code: 452, text }));
    }
    const size = sink.length;
    const message = new ReceivedMessage(sink.chunks, hash.digest, { ...envelope, size });
    const outcome = await this.options.delivery.deliver(message);
    const accepted = outcome.recipients.every((r) => r.code === 250);
    this.options.metrics.messages.inc({ result: accepted ? 'accepted' : 'deferred' });
    if (accepted) this.options.metrics.bytes.inc(size);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.log[accepted ? 'info' : 'warn'](
      { sha256: message.sha256, size, ...logBase, sinks: outcome.sinks, ms: Math.round(ms * 10) / 10, outcome: accepted ? 'accepted' : 'deferred' },
      accepted ? 'message accepted' : 'message deferred',
    );
    return outcome.recipients.map(replyFor);
  }
}

/** smtp-server sends a string as 250 and an Error with `responseCode` as that code, one line each. */
function replyFor(result: RecipientResult): string | Error {
  if (result.code === 250) return result.text;
  return Object.assign(new Error(result.text), { responseCode: result.code });
}

/** What the session knows about the message's origin; XFORWARD values only when Postfix sent them. */
function envelopeOf(session: SMTPServerSession): Omit<Envelope, 'size'> {
  const xf = (session as { xForward?: Map<string, string | number | false> }).xForward ?? new Map();
  const value = (key: string) => {
    const v = xf.get(key);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const mailFrom = session.envelope.mailFrom;
  return {
    mailFrom: mailFrom ? mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    receivedAt: new Date(),
    ...defined({ clientAddress: value('ADDR'), clientName: value('NAME'), helo: value('HELO'), protocol: value('PROTO') }),
  };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A socket file left by a previous run would make listen() fail with EADDRINUSE. */
function removeStaleSocket(path: string): void {
  if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
}
