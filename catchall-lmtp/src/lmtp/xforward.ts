// smtp-server's XFORWARD handler lowercases HELO (how a bot spells its HELO is a fingerprint worth
// keeping) and refuses the whole command with 501 when one value fails its checks: a NAME that is not
// a valid host name (an underscore, "[TEMPUNAVAIL]"), an ADDR that is not an IP address, a control
// character. ADDR, PROTO and HELO are then lost with it. And HELO=[UNAVAILABLE] empties the name it
// took from LHLO, so that the next MAIL gets "503 send LHLO first", a 5xx that makes Postfix bounce.
// So servers created with `xForwardAsSent: true` keep every value as Postfix sent it (xtext-decoded):
// smtp-server is handed only the values it takes unchanged (an IP address for ADDR, PORT, PROTO…),
// and once it has accepted the command the others are recorded in session.xForward as sent.
// "[UNAVAILABLE]" and "[TEMPUNAVAIL]" mean "not known" and are recorded as absent.
// Written against smtp-server 3.21.
import net from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

type Callback = () => void;

interface ConnectionInternals {
  _server: { options: { xForwardAsSent?: boolean } };
  _xForward: Map<string, string | number | false>;
  send(code: number, ...rest: unknown[]): void;
  handler_XFORWARD(command: Buffer | string, callback: Callback): void;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
const originalHandler = proto.handler_XFORWARD;
if (typeof originalHandler !== 'function' || typeof proto.send !== 'function') {
  throw new Error('smtp-server internals changed: review src/lmtp/xforward.ts');
}

const KEYS = new Set(['NAME', 'ADDR', 'PORT', 'PROTO', 'HELO', 'IDENT', 'SOURCE']);
const UNAVAILABLE = /^\[(UNAVAILABLE|TEMPUNAVAIL)\]$/i;
const CONTROL = /[\x00-\x1F\x7F]/;
// smtp-server refuses an XFORWARD without arguments; this one it records as "not known", and the
// previous value is put back afterwards.
const FILLER_KEY = 'IDENT';

/** RFC 3461 xtext, decoded as smtp-server does. */
const decodeXtext = (value: string) => value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

interface Parsed {
  /** The arguments smtp-server gets. */
  forSmtpServer: string[];
  /** The values recorded beside smtp-server's, per key; false: not known. */
  asSent: Map<string, string | false>;
}

/** undefined for a command smtp-server should judge itself (no arguments, an unknown key, no "="). */
function parse(command: string): Parsed | undefined {
  const parts = command.trim().split(/\s+/).slice(1);
  if (parts.length === 0) return undefined;
  const args: string[] = [];
  const asSent = new Map<string, string | false>();
  const seen = new Set<string>();
  for (const part of parts) {
    const fields = part.split('=');
    const key = fields[0]!.toUpperCase();
    if (fields.length !== 2 || !KEYS.has(key)) return undefined;
    const value = decodeXtext(fields[1]!);
    if (seen.has(key)) continue; // the first of a duplicate key counts, as in smtp-server
    seen.add(key);
    if (UNAVAILABLE.test(value)) asSent.set(key, false);
    else if (key === 'ADDR' && net.isIP(value.replace(/^IPV6:/i, '')) !== 0) args.push(part); // smtp-server strips "IPv6:" and normalises it
    else if (key === 'NAME' || key === 'HELO' || key === 'ADDR' || CONTROL.test(value)) asSent.set(key, value);
    else args.push(part);
  }
  return { forSmtpServer: args, asSent };
}

proto.handler_XFORWARD = function (this: ConnectionInternals, command: Buffer | string, callback: Callback): void {
  const parsed = this._server.options.xForwardAsSent === true ? parse(String(command)) : undefined;
  if (!parsed) return originalHandler.call(this, command, callback);
  // Whether smtp-server accepted the command shows only in the reply it sends (550, 503 or 250).
  let code: number | undefined;
  const ownSend = Object.prototype.hasOwnProperty.call(this, 'send') ? this.send : undefined;
  const send = this.send;
  this.send = function (this: ConnectionInternals, replyCode: number, ...rest: unknown[]) {
    code ??= replyCode;
    return send.call(this, replyCode, ...rest);
  };
  const filler = parsed.forSmtpServer.length === 0;
  const fillerBefore = this._xForward.get(FILLER_KEY);
  const args = filler ? [`${FILLER_KEY}=[UNAVAILABLE]`] : parsed.forSmtpServer;
  originalHandler.call(this, `XFORWARD ${args.join(' ')}`, () => {
    if (ownSend) this.send = ownSend;
    else delete (this as Partial<ConnectionInternals>).send;
    // Before the callback: it lets smtp-server read the next (pipelined) command.
    if (code === 250) {
      if (filler && fillerBefore === undefined) this._xForward.delete(FILLER_KEY);
      else if (filler) this._xForward.set(FILLER_KEY, fillerBefore!);
      for (const [key, value] of parsed.asSent) this._xForward.set(key, value);
    }
    callback();
  });
};
