// Through Postfix: smtp-source speaks SMTP to a native Postfix instance, which relays over LMTP to
// our collector and on to the broker; timed until the broker has every message, against the same
// Postfix relaying to smtp-sink.
export interface PostfixResult {
  /** what Postfix relays to: "smtp-sink" or "ours:<mode>" */
  next: string;
  count: number;
  sessions: number;
  size: number;
  /** from the first SMTP connection until the destination has every message */
  ms: number;
  msgsPerSec: number;
}

/** Why the Postfix measures cannot run in this checkout, or undefined when they can. */
export function postfixUnavailable(): string | undefined {
  return 'the native Postfix test instance helpers (e2e/helpers) are not in this checkout yet';
}
