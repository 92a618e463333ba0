// A bare SMTP dialog over a socket, for what swaks 20201014 cannot send: the SMTPUTF8 parameter of
// MAIL FROM (RFC 6531). Every other test sends with swaks.
import net from 'node:net';

export class SmtpDialog {
  private buffer = '';
  private waiting: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      this.waiting?.();
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<{ dialog: SmtpDialog; greeting: string }> {
    const socket = net.connect(port, host);
    socket.setTimeout(20_000, () => socket.destroy(new Error('SMTP dialog timed out')));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const dialog = new SmtpDialog(socket);
    return { dialog, greeting: await dialog.reply() };
  }

  /** The next complete reply (all its lines; the last one has a space after the code). */
  async reply(): Promise<string> {
    for (;;) {
      const end = /^\d{3} .*\r\n/m.exec(this.buffer);
      if (end) {
        const upto = end.index + end[0].length;
        const reply = this.buffer.slice(0, upto);
        this.buffer = this.buffer.slice(upto);
        return reply.trimEnd();
      }
      if (this.socket.destroyed) throw new Error(`connection closed while waiting for a reply (got "${this.buffer}")`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        this.socket.once('close', resolve);
      });
    }
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`, 'utf8');
    return this.reply();
  }

  /** Sends a message that ends with CRLF, dot-stuffed, and the final dot; returns the reply. */
  async data(message: Buffer): Promise<string> {
    const go = await this.command('DATA');
    if (!go.startsWith('354')) return go;
    const stuffed = Buffer.from(message.toString('latin1').replace(/^\./gm, '..'), 'latin1');
    this.socket.write(Buffer.concat([stuffed, Buffer.from('.\r\n')]));
    return this.reply();
  }

  async close(): Promise<void> {
    if (!this.socket.destroyed) await this.command('QUIT').catch(() => undefined);
    this.socket.destroy();
  }
}
