// The three ways hpfeeds can fail, as distinct types so callers can tell them apart:
// bytes that are not valid hpfeeds (protocol), an ERROR frame from the broker (broker), and an
// operation the client cannot carry out (client: not connected, too large, closed).

export type HpfeedsProtocolErrorCode =
  | 'LENGTH_TOO_SMALL' // declared frame length below the 5 header bytes
  | 'UNKNOWN_OPCODE'
  | 'FRAME_TOO_LARGE' // declared length over the limit for that opcode
  | 'STRING_OVERRUN' // a string8 field (or its length byte) runs past the end of the body
  | 'INVALID_UTF8' // ident, channel or broker name is not valid UTF-8 (or, encoding, a lone surrogate)
  | 'STRING_TOO_LONG'; // encoding: a string8 field over 255 bytes

/** Bytes that are not a valid hpfeeds frame. The connection that produced them must be closed. */
export class HpfeedsProtocolError extends Error {
  constructor(
    readonly code: HpfeedsProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HpfeedsProtocolError';
  }
}

/** An ERROR frame from the broker; `text` is exactly what it sent, e.g. "Authentication failed for writer". */
export class HpfeedsBrokerError extends Error {
  constructor(readonly text: string) {
    super(`hpfeeds broker error: ${text}`);
    this.name = 'HpfeedsBrokerError';
  }
}

export type HpfeedsClientErrorCode =
  | 'NOT_CONNECTED' // no authenticated socket right now
  | 'FRAME_TOO_LARGE' // the frame would exceed maxFrameSize
  | 'INVALID_ARGUMENT' // e.g. a channel name over 255 bytes
  | 'CLOSED' // close() was called
  | 'SUBSCRIPTION_OVERFLOW' // a subscribe() iterator's consumer fell too far behind
  | 'CONNECTION_LOST' // the socket went away before the frame was written
  | 'BROKER_ERROR' // the broker sent ERROR before the publish resolved (written, or still in its grace period)
  | 'CONNECT_FAILED'; // the first connection attempt failed

/** A client operation that did not happen; `cause` holds the underlying error when there is one. */
export class HpfeedsClientError extends Error {
  constructor(
    readonly code: HpfeedsClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HpfeedsClientError';
  }
}
