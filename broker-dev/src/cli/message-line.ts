// How `hpfeeds subscribe` prints a message: one JSON object per line. For spam payloads it also proves
// the message bytes are intact by recomputing their sha256.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';

export interface MessageLine {
  ident: string;
  channel: string;
  /** The payload as text when it is valid UTF-8, otherwise base64 (and encoding is "base64"). */
  payload: string;
  encoding?: 'base64';
  /** sha256 (hex) of the message bytes: the decoded `msg` of a spam JSON payload, else the raw payload. */
  sha256: string;
  /** For a spam JSON payload: whether its `sha256` field matches the bytes of its `msg`. */
  sha256_ok?: boolean;
}

/** The collector's JSON format: {"sha256": "<hex>", "msg": "<text or base64>", "encoding"?: "base64", …}. */
interface SpamJson {
  sha256: string;
  msg: string;
  encoding?: unknown;
}

export function messageLine(ident: string, channel: string, payload: Buffer): MessageLine {
  const text = isUtf8(payload) ? payload.toString('utf8') : undefined;
  const spam = text === undefined ? undefined : parseSpamJson(text);
  const messageBytes = spam ? Buffer.from(spam.msg, spam.encoding === 'base64' ? 'base64' : 'utf8') : payload;
  const sha256 = createHash('sha256').update(messageBytes).digest('hex');
  return {
    ident,
    channel,
    ...(text !== undefined ? { payload: text } : { payload: payload.toString('base64'), encoding: 'base64' as const }),
    sha256,
    ...(spam ? { sha256_ok: sha256 === spam.sha256.toLowerCase() } : {}),
  };
}

function parseSpamJson(text: string): SpamJson | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const v = JSON.parse(text) as Partial<SpamJson> | null;
    return v && typeof v.sha256 === 'string' && typeof v.msg === 'string' ? (v as SpamJson) : undefined;
  } catch {
    return undefined;
  }
}
