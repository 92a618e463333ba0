// smtp-server answers MAIL FROM / RCPT TO with 501 (a 5xx) when an address fails its syntax checks
// (a domain with a trailing dot, a quoted local part holding "@", an odd IP literal...). Behind Postfix
// that is wrong twice over: Postfix has already accepted the message, so a 5xx makes it bounce trap
// mail, and spam research wants the envelope exactly as the sender wrote it. So servers created with
// `acceptAnyAddress: true` take any <path> without control characters, verbatim (a source route
// "@relay:" removed, as RFC 5321 asks); the parameters (SIZE=, BODY=, ...) are still parsed and
// checked by smtp-server itself. Written against smtp-server 3.21.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

type Parsed = { address: string; args: Record<string, string | boolean> | false; duplicate?: string } | false;

interface ConnectionInternals {
  _server: { options: { acceptAnyAddress?: boolean } };
  _parseAddressCommand(rawName: string, rawCommand: Buffer | string): Parsed;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
const originalParse = proto._parseAddressCommand;
if (typeof originalParse !== 'function') throw new Error('smtp-server internals changed: review src/lmtp/any-address.ts');

// "MAIL FROM:<path> params" — the path as sent, and whatever follows it.
const COMMAND = /^\s*([A-Za-z]+\s+[A-Za-z]+)\s*:\s*<([^<>]*)>(.*)$/s;
const UNSAFE = /[\x00-\x1F\x7F-\x9F\u200B\u2060\uFEFF]/;
const SOURCE_ROUTE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;
/** Stands in for the real address so that smtp-server parses and checks the parameters. */
const PLACEHOLDER = 'placeholder@example.invalid';

proto._parseAddressCommand = function (this: ConnectionInternals, rawName: string, rawCommand: Buffer | string): Parsed {
  if (this._server.options.acceptAnyAddress !== true) return originalParse.call(this, rawName, rawCommand);
  const match = COMMAND.exec(String(rawCommand));
  if (!match || match[1]!.replace(/\s+/g, ' ').toUpperCase() !== rawName.trim().toUpperCase()) return originalParse.call(this, rawName, rawCommand);
  const path = match[2]!;
  if (UNSAFE.test(path)) return false;
  const withPlaceholder = originalParse.call(this, rawName, `${match[1]}:<${path === '' ? '' : PLACEHOLDER}>${match[3]}`);
  if (!withPlaceholder) return false; // the parameters themselves are broken
  return { ...withPlaceholder, address: path.replace(SOURCE_ROUTE, '') };
};
