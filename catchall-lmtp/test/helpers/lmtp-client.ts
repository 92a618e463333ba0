// A minimal LMTP client over a real socket, for dialogs where the exact bytes on the wire matter
// (dot-stuffing, bare LF, NUL, XFORWARD, disconnecting mid-DATA). swaks and smtp-source cover the rest.
import net from 'node:net';

export interface Reply {
  code: number;
  lines: string[];
  /** All lines joined, without the codes. */
  text: string;
}

export class LmtpClient {
  private buffer = '';
  private waiting: Array<() => void> = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (const wake of this.waiting.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => {
      for (const wake of this.waiting.splice(0)) wake();
      resolve();
    }));
    socket.on('error', () => undefined);
  }

  /** Connects and reads the greeting; with `lhlo`, also says LHLO and returns its reply. */
  static async connect(target: { port: number; host?: string } | { socket: string }, lhlo = true): Promise<{ client: LmtpClient; greeting: Reply; lhloReply?: Reply }> {
    const socket = 'socket' in target ? net.connect(target.socket) : net.connect(target.port, target.host ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new LmtpClient(socket);
    const greeting = await client.readReply();
    const lhloReply = lhlo ? await client.command('LHLO test.client') : undefined;
    return { client, greeting, lhloReply };
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  async command(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.readReply();
  }

  /** Reads one (possibly multi-line) reply; rejects if the server closes first or after 30 s. */
  async readReply(timeoutMs = 30_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    for (;;) {
      const eol = this.buffer.indexOf('\r\n');
      if (eol >= 0) {
        const line = this.buffer.slice(0, eol);
        this.buffer = this.buffer.slice(eol + 2);
        lines.push(line);
        if (line[3] !== '-') {
          return { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
        }
        continue;
      }
      if (this.socket.destroyed || this.socket.readableEnded) throw new Error(`connection closed while waiting for a reply (got: ${JSON.stringify(lines)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (got: ${JSON.stringify(lines)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async readReplies(n: number): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < n; i++) replies.push(await this.readReply());
    return replies;
  }

  /** MAIL, RCPT…, DATA, the dot-stuffed message and the terminator, all pipelined in one write. */
  async sendMessage(from: string, to: string[], message: Buffer): Promise<{ envelope: Reply[]; data: Reply; perRecipient: Reply[] }> {
    this.write(
      Buffer.concat([
        Buffer.from(`MAIL FROM:<${from}>\r\n${to.map((t) => `RCPT TO:<${t}>\r\n`).join('')}DATA\r\n`, 'latin1'),
        dotStuff(message),
        Buffer.from(message.length === 0 || message.subarray(-2).toString('latin1') === '\r\n' ? '.\r\n' : '\r\n.\r\n', 'latin1'),
      ]),
    );
    const envelope = await this.readReplies(1 + to.length);
    const data = await this.readReply();
    const accepted = envelope.slice(1).filter((r) => r.code === 250).length;
    const perRecipient = data.code === 354 ? await this.readReplies(accepted) : [];
    return { envelope, data, perRecipient };
  }

  async quit(): Promise<void> {
    if (!this.socket.destroyed) {
      this.write('QUIT\r\n');
      this.socket.end();
    }
    await this.closed;
  }
}

/** Doubles every dot at the start of a line (after any LF, as the server unstuffs after any LF). */
export function dotStuff(message: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let dot = message.indexOf(0x2e); dot >= 0; dot = message.indexOf(0x2e, dot + 1)) {
    if (dot === 0 || message[dot - 1] === 0x0a) {
      parts.push(message.subarray(from, dot), Buffer.from('.'));
      from = dot;
    }
  }
  parts.push(message.subarray(from));
  return Buffer.concat(parts);
}

/** What the server stores: the content, with the CRLF the terminator needs if it lacked one. */
export function asReceived(message: Buffer): Buffer {
  if (message.length === 0 || message.subarray(-2).toString('latin1') === '\r\n') return message;
  return Buffer.concat([message, Buffer.from('\r\n')]);
}
