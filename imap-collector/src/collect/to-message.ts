// Turns the exact bytes the IMAP server returned into the same CollectedMessage the LMTP path
// produces, so payloads, logs and metrics look alike whichever way a message came in.
import { createHash } from 'node:crypto';
import type { CollectedMessage } from 'catchall-lmtp/sinks/sink';

export interface ImapOrigin {
  account: string;
  mailbox: string;
  uid: number;
  uidValidity: string;
  /** The server's INTERNALDATE: when the message arrived in the mailbox. */
  internalDate?: Date;
}

export function toCollectedMessage(bytes: Buffer, origin: ImapOrigin, collectedAt: Date = new Date()): CollectedMessage {
  const extra: Record<string, string | number> = {
    source: 'imap',
    account: origin.account,
    mailbox: origin.mailbox,
    uid: origin.uid,
    uid_validity: origin.uidValidity,
  };
  if (origin.internalDate) extra.internaldate = origin.internalDate.toISOString();
  return {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    envelope: {
      // IMAP has no SMTP envelope; the fields stay empty rather than being guessed from headers.
      mailFrom: '',
      rcptTo: [],
      receivedAt: collectedAt,
      size: bytes.length,
      extra,
    },
  };
}
