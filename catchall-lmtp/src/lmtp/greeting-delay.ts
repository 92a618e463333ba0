// smtp-server waits a fixed 100 ms before its greeting, to catch spam bots that talk before it
// ("early talkers"). Our only client is Postfix's LMTP client, which always waits for the greeting,
// and smtp-source and Postfix open a connection per message when they cannot reuse one: 100 ms per
// connection would cap a session at 10 messages/s. There is no option for it, so servers created
// with `greetingDelay: false` send the greeting on the next tick instead; everything else that
// init() does (the connection limit check) is kept. Written against smtp-server 3.21.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

interface ConnectionInternals {
  _server: { options: { greetingDelay?: boolean; maxClients?: number }; connections: Set<unknown> };
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, context?: false): void;
  name: string;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals & { init(): void };
const originalInit = proto.init;
if (typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') {
  throw new Error('smtp-server internals changed: review src/lmtp/greeting-delay.ts');
}

proto.init = function (this: ConnectionInternals) {
  if (this._server.options.greetingDelay !== false) return originalInit.call(this);
  this._setListeners(() => {
    const { maxClients } = this._server.options;
    if (maxClients && this._server.connections.size > maxClients) {
      return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
    }
    setImmediate(() => this.connectionReady());
  });
};
