// The one small interface every destination (AMQP, hpfeeds, maildir) implements.
// A sink confirms a message only once it is durable there; the LMTP server turns
// a rejection into a 4xx so that Postfix keeps the message and retries.

/** What is known about how a message reached us. Optional fields are absent, never guessed. */
export interface Envelope {
  mailFrom: string;
  rcptTo: string[];
  /** Original client, from XFORWARD (ADDR, NAME, HELO, PROTO) when enabled. */
  clientAddress?: string;
  clientName?: string;
  helo?: string;
  protocol?: string;
  receivedAt: Date;
  /** Exact byte length of the message. */
  size: number;
  /** Where the message came from, when not LMTP (e.g. the IMAP collector: source, account, mailbox, uid). */
  extra?: Record<string, string | number>;
}

export interface CollectedMessage {
  /** The exact bytes received, after dot-unstuffing. Never re-encoded. */
  readonly bytes: Buffer;
  /**
   * The same bytes in the pieces they arrived in, when the message has not been joined into one buffer
   * (see ReceivedMessage). Whoever can write or encode pieces uses them: joining a large message costs
   * its size once more in memory.
   */
  readonly parts?: readonly Buffer[];
  /** sha256 of `bytes`, lower-case hex. Identifies the message in logs, metrics and payloads. */
  readonly sha256: string;
  readonly envelope: Envelope;
}

/** The message's bytes as pieces, without joining them. */
export function partsOf(message: CollectedMessage): readonly Buffer[] {
  return message.parts ?? [message.bytes];
}

/** The length of pieces taken together. */
export function byteLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** A message as the LMTP server received it: kept in its pieces, joined only if someone asks for `bytes`. */
export class ReceivedMessage implements CollectedMessage {
  private joined?: Buffer;
  private pieces?: readonly Buffer[];

  constructor(
    pieces: readonly Buffer[],
    readonly sha256: string,
    readonly envelope: Envelope,
  ) {
    if (pieces.length === 1) this.joined = pieces[0];
    else this.pieces = pieces;
  }

  get parts(): readonly Buffer[] | undefined {
    return this.pieces;
  }

  get bytes(): Buffer {
    if (!this.joined) {
      this.joined = Buffer.concat(this.pieces ?? [], this.envelope.size);
      this.pieces = undefined; // the pieces can go: one copy is enough
    }
    return this.joined;
  }
}

export interface Sink {
  /** Stable name for logs and metrics, e.g. "amqp" or "hpfeeds:broker.example". */
  readonly name: string;
  /** Starts connecting. An unreachable broker does not reject: it is logged and retried in the background. */
  start(): Promise<void>;
  /** Resolves only once the sink holds the message durably; rejects with a SinkError otherwise. */
  deliver(message: CollectedMessage): Promise<void>;
  /** True while the sink can accept messages (connected and authenticated). */
  isReady(): boolean;
  /** Stops reconnecting, waits for outstanding confirms, closes. */
  close(): Promise<void>;
}

/** A delivery that did not happen. `temporary` is always true for trap mail: we answer 4xx, never 5xx. */
export class SinkError extends Error {
  constructor(
    readonly sink: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${sink}: ${message}`, options);
    this.name = 'SinkError';
  }
}
