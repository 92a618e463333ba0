// What the brokers received, decoded from the collector's documented json payload:
// {"sha256", "msg" (text, or base64 with "encoding": "base64"), "envelope": {...}}.
import { createHash } from 'node:crypto';

export interface Delivered {
  sha256: string;
  /** The exact message bytes the collector got from Postfix. */
  bytes: Buffer;
  envelope: {
    mail_from?: string;
    rcpt_to?: string[];
    client_address?: string;
    client_name?: string;
    helo?: string;
    size?: number;
  };
}

export function decodePayload(payload: Buffer): Delivered {
  const doc = JSON.parse(payload.toString('utf8')) as { sha256: string; msg: string; encoding?: string; envelope?: Delivered['envelope'] };
  const bytes = doc.encoding === 'base64' ? Buffer.from(doc.msg, 'base64') : Buffer.from(doc.msg, 'utf8');
  return { sha256: doc.sha256, bytes, envelope: doc.envelope ?? {} };
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Splits what a broker got into Postfix's own Received: header (the first header, with its folded
 * continuation lines) and the rest, which must be byte for byte what the client sent.
 */
export function splitPostfixReceived(bytes: Buffer): { received: string; rest: Buffer } {
  if (!bytes.subarray(0, 10).equals(Buffer.from('Received: '))) throw new Error(`the message does not start with Postfix's Received: header: ${bytes.subarray(0, 80).toString('latin1')}`);
  let end = bytes.indexOf('\r\n');
  while (end !== -1 && (bytes[end + 2] === 0x20 || bytes[end + 2] === 0x09)) end = bytes.indexOf('\r\n', end + 2);
  if (end === -1) throw new Error('unterminated Received: header');
  return { received: bytes.subarray(0, end + 2).toString('latin1'), rest: bytes.subarray(end + 2) };
}
