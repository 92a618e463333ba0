// The envelope as consumers see it: snake_case keys, absent fields left out (never guessed).
import type { Envelope } from '../sinks/sink.js';

export interface EnvelopeRecord {
  mail_from: string;
  rcpt_to: string[];
  client_address?: string;
  client_name?: string;
  helo?: string;
  protocol?: string;
  /** ISO 8601, UTC. */
  received_at: string;
  size: number;
  /** Source-specific fields (e.g. the IMAP collector's mailbox and uid); never override the above. */
  [extra: string]: string | number | string[] | undefined;
}

export function envelopeRecord(envelope: Envelope): EnvelopeRecord {
  const record: EnvelopeRecord = {
    mail_from: envelope.mailFrom,
    rcpt_to: envelope.rcptTo,
    client_address: envelope.clientAddress,
    client_name: envelope.clientName,
    helo: envelope.helo,
    protocol: envelope.protocol,
    received_at: envelope.receivedAt.toISOString(),
    size: envelope.size,
  };
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  for (const [key, value] of Object.entries(envelope.extra ?? {})) if (!(key in record)) record[key] = value;
  return record;
}
