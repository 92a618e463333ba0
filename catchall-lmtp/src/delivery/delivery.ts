// The seam between the LMTP server and the destinations (go-smtp's LMTP status-per-recipient idea):
// the server hands over one complete message and gets back one reply per accepted recipient.
import type { CollectedMessage } from '../sinks/sink.js';

/** The reply for one recipient. Never a 5xx: trap mail that we cannot take now must be retried. */
export interface RecipientResult {
  code: 250 | 451 | 452;
  text: string;
}

export interface DeliveryOutcome {
  /** One per recipient, in the order of `message.envelope.rcptTo`. */
  recipients: RecipientResult[];
  /** What happened at each sink (`ok`, `spooled`, or the error text), for the per-message log line. */
  sinks: Record<string, string>;
}

export interface Delivery {
  /** Resolves once the message is durable (then 250) or known not to be (then 4xx); never rejects. */
  deliver(message: CollectedMessage): Promise<DeliveryOutcome>;
  /** Whether a message arriving now could be made durable (for /readyz). */
  isReady(): { ready: boolean; reason?: string };
  /** Waits for outstanding work (publishes in flight) and releases resources. */
  close(): Promise<void>;
}

/** The same reply for every recipient: a message is stored once, whatever the number of recipients. */
export function sameForAll(message: CollectedMessage, result: RecipientResult): RecipientResult[] {
  return message.envelope.rcptTo.map(() => result);
}
