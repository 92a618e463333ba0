// smtp-server's only timeout is the idle one, which every byte resets: a client that trickles its
// message a byte at a time keeps its session (one of maxConnections) for as long as it likes. Servers
// created with `dataTimeout: ms` give each DATA transfer a deadline, from the 354 to the final dot:
// past it the client gets 421 and the connection is closed (the message was not accepted, so the
// client keeps and retries it), and the stream the onData handler reads fails with the reason.
// Waiting for the delivery after the dot is not counted. Written against smtp-server 3.21.
import type { PassThrough } from 'node:stream';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

declare module 'smtp-server' {
  interface SMTPServerOptions {
    /** Deadline of one DATA transfer in ms (this module); unset: none. */
    dataTimeout?: number;
  }
}

interface ConnectionInternals {
  _server: { options: { dataTimeout?: number } };
  /** The message being received; smtp-server sets it to false or null once DATA is over. */
  _dataStream: PassThrough | false | null | undefined;
  name: string;
  send(code: number, text: string): void;
  handler_DATA(command: Buffer | string, callback: () => void): void;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
const originalHandler = proto.handler_DATA;
if (typeof originalHandler !== 'function' || typeof proto.send !== 'function') {
  throw new Error('smtp-server internals changed: review src/lmtp/data-timeout.ts');
}

proto.handler_DATA = function (this: ConnectionInternals, command: Buffer | string, callback: () => void): void {
  originalHandler.call(this, command, callback);
  const ms = this._server.options.dataTimeout;
  const stream = this._dataStream;
  if (!ms || !stream) return; // no data mode: DATA was refused (no recipient)
  const timer = setTimeout(() => {
    if (stream.writableEnded || stream.destroyed) return; // the final dot arrived
    const reason = `DATA not completed within ${ms} ms`;
    this.send(421, `${this.name} ${reason}, closing connection`); // a 421 also closes the connection
    stream.destroy(stream.listenerCount('error') > 0 ? Object.assign(new Error(reason), { code: 'ETIMEDOUT' }) : undefined);
  }, ms);
  const clear = () => clearTimeout(timer);
  stream.once('finish', clear);
  stream.once('close', clear);
};
