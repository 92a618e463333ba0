// AMQP message properties for a payload: message_id = sha256 and the content type for both
// formats; for raw, whose body is only the message, the envelope goes in x- headers.
import type { PayloadFormat } from '../config/schema.js';
import type { CollectedMessage } from '../sinks/sink.js';

export interface AmqpMessageProperties {
  messageId: string;
  contentType: 'application/json' | 'message/rfc822';
  /** Seconds since the epoch (AMQP timestamps have no finer resolution). */
  timestamp: number;
  headers: Record<string, string | number | boolean | string[]>;
}

/**
 * amqplib refuses a header table over 64 KiB; recipient lists are the only part that can grow that
 * large (up to lmtp.maxRecipients addresses). Past this budget x-rcpt-to is cut short and
 * x-rcpt-to-truncated says so; x-rcpt-count is always the full count.
 */
export const RCPT_HEADER_BUDGET = 32 * 1024;

export function amqpProperties(msg: CollectedMessage, format: PayloadFormat): AmqpMessageProperties {
  const { envelope } = msg;
  const properties: AmqpMessageProperties = {
    messageId: msg.sha256,
    contentType: format === 'raw' ? 'message/rfc822' : 'application/json',
    timestamp: Math.floor(envelope.receivedAt.getTime() / 1000),
    headers: {},
  };
  if (format !== 'raw') return properties;

  const h = properties.headers;
  h['x-sha256'] = msg.sha256;
  h['x-mail-from'] = envelope.mailFrom;
  const rcpt = fitRecipients(envelope.rcptTo);
  h['x-rcpt-to'] = rcpt;
  h['x-rcpt-count'] = envelope.rcptTo.length;
  if (rcpt.length < envelope.rcptTo.length) h['x-rcpt-to-truncated'] = true;
  if (envelope.clientAddress !== undefined) h['x-client-address'] = envelope.clientAddress;
  if (envelope.clientName !== undefined) h['x-client-name'] = envelope.clientName;
  if (envelope.helo !== undefined) h['x-helo'] = envelope.helo;
  if (envelope.protocol !== undefined) h['x-protocol'] = envelope.protocol;
  h['x-received-at'] = envelope.receivedAt.toISOString();
  h['x-size'] = envelope.size;
  for (const [key, value] of Object.entries(envelope.extra ?? {})) {
    const name = `x-${key.replace(/_/g, '-').toLowerCase()}`;
    if (!(name in h)) h[name] = value;
  }
  return properties;
}

function fitRecipients(rcptTo: string[]): string[] {
  let used = 0;
  for (let i = 0; i < rcptTo.length; i++) {
    used += Buffer.byteLength(rcptTo[i]!) + 5; // type tag + 32-bit length in a field array
    if (used > RCPT_HEADER_BUDGET) return rcptTo.slice(0, i);
  }
  return rcptTo;
}
