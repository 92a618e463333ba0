// hpfeeds v3 framing (see shared spec): uint32 BE total length (header included), uint8 opcode, body.
// A string8 is one length byte followed by UTF-8; the last field of a body is the rest of the body.
import { createHash } from 'node:crypto';
import { HpfeedsProtocolError } from './errors.js';

export const OP = { ERROR: 0, INFO: 1, AUTH: 2, PUBLISH: 3, SUBSCRIBE: 4, UNSUBSCRIBE: 5 } as const;

export type Frame =
  | { op: 'error'; text: string }
  | { op: 'info'; name: string; nonce: Buffer }
  | { op: 'auth'; ident: string; hash: Buffer }
  | { op: 'publish'; ident: string; channel: string; payload: Buffer }
  | { op: 'subscribe'; ident: string; channel: string }
  | { op: 'unsubscribe'; ident: string; channel: string };

export type FrameName = Frame['op'];

/** Largest total frame size (header included) accepted per opcode. */
export type FrameLimits = Record<FrameName, number>;

export const HEADER_SIZE = 5;
/** The reference limit for PUBLISH and ERROR frames, in total frame bytes. */
export const DEFAULT_MAX_FRAME = 5 + 1048576;

/** The reference broker's limits (hpfeeds3 protocol.py). */
export const DEFAULT_LIMITS: Readonly<FrameLimits> = Object.freeze({
  error: DEFAULT_MAX_FRAME,
  info: 5 + 256 + 20,
  auth: 5 + 256 + 20,
  publish: DEFAULT_MAX_FRAME,
  subscribe: 1048576,
  unsubscribe: 1048576,
});

const NAME_BY_OPCODE: readonly FrameName[] = ['error', 'info', 'auth', 'publish', 'subscribe', 'unsubscribe'];
const MAX_STRING8 = 255;

// ---------------------------------------------------------------------------------------------- encoding

/** SHA1(nonce ‖ UTF-8 secret): what AUTH carries instead of the secret. */
export function authHash(nonce: Buffer, secret: string): Buffer {
  return createHash('sha1').update(nonce).update(secret, 'utf8').digest();
}

// A lone surrogate would silently become U+FFFD on the wire, i.e. a different ident or channel.
const LONE_SURROGATE = /\p{Cs}/u;

function utf8(field: string, value: string): Buffer {
  if (LONE_SURROGATE.test(value)) {
    throw new HpfeedsProtocolError('INVALID_UTF8', `${field} contains a lone UTF-16 surrogate and cannot be encoded as UTF-8`);
  }
  return Buffer.from(value, 'utf8');
}

function string8(field: string, value: string): Buffer[] {
  const bytes = utf8(field, value);
  if (bytes.length > MAX_STRING8) {
    throw new HpfeedsProtocolError('STRING_TOO_LONG', `${field} is ${bytes.length} bytes as UTF-8; hpfeeds allows at most ${MAX_STRING8}`);
  }
  return [Buffer.of(bytes.length), bytes];
}

function frame(opcode: number, parts: Buffer[]): Buffer {
  const bodyLength = parts.reduce((n, p) => n + p.length, 0);
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(HEADER_SIZE + bodyLength, 0);
  header.writeUInt8(opcode, 4);
  return Buffer.concat([header, ...parts], HEADER_SIZE + bodyLength);
}

/** A frame with any opcode byte and body, unchecked: for test vectors and deliberately odd frames. */
export function encodeRawFrame(opcode: number, body: Buffer): Buffer {
  return frame(opcode, [body]);
}

export function encodeError(text: string): Buffer {
  return frame(OP.ERROR, [Buffer.from(text, 'utf8')]);
}

export function encodeInfo(name: string, nonce: Buffer): Buffer {
  return frame(OP.INFO, [...string8('broker name', name), nonce]);
}

export function encodeAuth(ident: string, hash: Buffer): Buffer {
  return frame(OP.AUTH, [...string8('ident', ident), hash]);
}

export function encodePublish(ident: string, channel: string, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([encodePublishHead(ident, channel, body.length), body]);
}

/**
 * A PUBLISH frame up to where its payload starts: written before the payload itself, so that sending
 * a large message does not first copy it into a frame.
 */
export function encodePublishHead(ident: string, channel: string, payloadLength: number): Buffer {
  const strings = [...string8('ident', ident), ...string8('channel', channel)];
  const head = frame(OP.PUBLISH, strings);
  head.writeUInt32BE(head.length + payloadLength, 0);
  return head;
}

export function encodeSubscribe(ident: string, channel: string): Buffer {
  return frame(OP.SUBSCRIBE, [...string8('ident', ident), utf8('channel', channel)]);
}

export function encodeUnsubscribe(ident: string, channel: string): Buffer {
  return frame(OP.UNSUBSCRIBE, [...string8('ident', ident), utf8('channel', channel)]);
}

/** Encodes any decoded frame back to bytes. */
export function encodeFrame(f: Frame): Buffer {
  switch (f.op) {
    case 'error':
      return encodeError(f.text);
    case 'info':
      return encodeInfo(f.name, f.nonce);
    case 'auth':
      return encodeAuth(f.ident, f.hash);
    case 'publish':
      return encodePublish(f.ident, f.channel, f.payload);
    case 'subscribe':
      return encodeSubscribe(f.ident, f.channel);
    case 'unsubscribe':
      return encodeUnsubscribe(f.ident, f.channel);
  }
}

/** Total bytes of a PUBLISH frame, computed without building it (for size checks before encoding). */
export function publishFrameSize(ident: string, channel: string, payloadLength: number): number {
  return HEADER_SIZE + 1 + Buffer.byteLength(ident, 'utf8') + 1 + Buffer.byteLength(channel, 'utf8') + payloadLength;
}

// ---------------------------------------------------------------------------------------------- decoding

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the fields of one frame body, failing with a typed error instead of reading past its end. */
class BodyReader {
  private pos = 0;
  constructor(
    private readonly body: Buffer,
    private readonly op: FrameName,
  ) {}

  string8(field: string): string {
    const len = this.body[this.pos];
    if (len === undefined) {
      throw new HpfeedsProtocolError('STRING_OVERRUN', `${this.op.toUpperCase()} frame ends before the length byte of its ${field}`);
    }
    const start = this.pos + 1;
    if (start + len > this.body.length) {
      throw new HpfeedsProtocolError(
        'STRING_OVERRUN',
        `${this.op.toUpperCase()} ${field} declares ${len} bytes but only ${this.body.length - start} remain in the frame`,
      );
    }
    this.pos = start + len;
    return this.text(field, this.body.subarray(start, this.pos));
  }

  restText(field: string): string {
    return this.text(field, this.rest());
  }

  rest(): Buffer {
    const r = this.body.subarray(this.pos);
    this.pos = this.body.length;
    return r;
  }

  private text(field: string, bytes: Buffer): string {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw new HpfeedsProtocolError('INVALID_UTF8', `${this.op.toUpperCase()} ${field} is not valid UTF-8`);
    }
  }
}

function decodeBody(op: FrameName, body: Buffer): Frame {
  const r = new BodyReader(body, op);
  switch (op) {
    case 'error':
      // Free text for humans: shown as-is (invalid bytes become U+FFFD) rather than hidden behind a decode error.
      return { op, text: body.toString('utf8') };
    case 'info':
      return { op, name: r.string8('broker name'), nonce: r.rest() };
    case 'auth':
      return { op, ident: r.string8('ident'), hash: r.rest() };
    case 'publish':
      return { op, ident: r.string8('ident'), channel: r.string8('channel'), payload: r.rest() };
    case 'subscribe':
    case 'unsubscribe':
      return { op, ident: r.string8('ident'), channel: r.restText('channel') };
  }
}

export interface FrameDecoderOptions {
  /** Per-opcode limits in total frame bytes; unspecified ones keep the reference values (DEFAULT_LIMITS). */
  limits?: Partial<FrameLimits>;
}

/**
 * Incremental decoder: feed it whatever the socket delivers, in any chunking (down to one byte), and it
 * returns every complete frame. A bad header is rejected as soon as its 5 bytes are in, so an oversized
 * frame is never buffered; between pushes it holds at most one incomplete frame (≤ that opcode's limit).
 * Frames that lie whole inside one chunk are sliced from it without copying.
 * After a HpfeedsProtocolError the stream cannot be resynchronised: every later push throws it again.
 */
export class FrameDecoder {
  private readonly limits: FrameLimits;
  // The incomplete frame: bytes [0, filled) of buf. Its capacity grows by doubling up to the frame length,
  // so a peer declaring a large frame costs memory only as it actually sends bytes.
  private buf: Buffer = EMPTY;
  private filled = 0;
  // Header of the incomplete frame, once its 5 bytes are in.
  private current: { op: FrameName; length: number } | undefined;
  private failure: HpfeedsProtocolError | undefined;

  constructor(opts: FrameDecoderOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    for (const [op, limit] of Object.entries(this.limits)) {
      if (!Number.isInteger(limit) || limit < HEADER_SIZE || limit > 0xffffffff) {
        throw new RangeError(`hpfeeds ${op} frame limit must be an integer from ${HEADER_SIZE} to ${0xffffffff}, got ${limit}`);
      }
    }
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.filled;
  }

  /** Returns the frames completed by this chunk; throws HpfeedsProtocolError on invalid input. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    try {
      return this.decode(chunk);
    } catch (err) {
      // Only our own typed errors can arise in decode; anything else is a bug and propagates unchanged.
      if (err instanceof HpfeedsProtocolError) {
        this.failure = err;
        this.buf = EMPTY;
        this.filled = 0;
      }
      throw err;
    }
  }

  private decode(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let pos = 0;
    for (;;) {
      if (this.filled === 0) {
        // Nothing buffered: take whole frames straight out of the chunk.
        const avail = chunk.length - pos;
        if (avail === 0) break;
        if (avail >= HEADER_SIZE) {
          const head = this.readHeader(chunk, pos);
          if (avail >= head.length) {
            frames.push(decodeBody(head.op, chunk.subarray(pos + HEADER_SIZE, pos + head.length)));
            pos += head.length;
            continue;
          }
          this.current = head;
        }
        this.append(chunk.subarray(pos));
        break;
      }
      // Something buffered: complete its header, then its body, from this chunk.
      if (!this.current) {
        pos += this.append(chunk.subarray(pos, pos + HEADER_SIZE - this.filled));
        if (this.filled < HEADER_SIZE) break;
        this.current = this.readHeader(this.buf, 0);
      }
      const { op, length } = this.current;
      pos += this.append(chunk.subarray(pos, pos + length - this.filled));
      if (this.filled < length) break;
      // The finished frame keeps buf (sized exactly to it); the decoder starts a fresh one.
      const body = this.buf.subarray(HEADER_SIZE, length);
      this.buf = EMPTY;
      this.filled = 0;
      this.current = undefined;
      frames.push(decodeBody(op, body));
    }
    return frames;
  }

  private readHeader(bytes: Buffer, at: number): { op: FrameName; length: number } {
    const length = bytes.readUInt32BE(at);
    const opcode = bytes.readUInt8(at + 4);
    if (length < HEADER_SIZE) {
      throw new HpfeedsProtocolError('LENGTH_TOO_SMALL', `frame declares length ${length}, below the ${HEADER_SIZE}-byte header`);
    }
    const op = NAME_BY_OPCODE[opcode];
    if (op === undefined) {
      throw new HpfeedsProtocolError('UNKNOWN_OPCODE', `unknown opcode ${opcode} (frame length ${length})`);
    }
    const limit = this.limits[op];
    if (length > limit) {
      throw new HpfeedsProtocolError('FRAME_TOO_LARGE', `${op.toUpperCase()} frame of ${length} bytes exceeds the limit of ${limit} bytes`);
    }
    return { op, length };
  }

  // Appends bytes to the incomplete frame, growing buf geometrically but never past the frame's length.
  private append(bytes: Buffer): number {
    const needed = this.filled + bytes.length;
    if (needed > this.buf.length) {
      let capacity = Math.max(needed, this.buf.length * 2, 256);
      if (this.current) capacity = Math.min(capacity, this.current.length);
      const grown = Buffer.allocUnsafe(capacity);
      this.buf.copy(grown, 0, 0, this.filled);
      this.buf = grown;
    }
    bytes.copy(this.buf, this.filled);
    this.filled = needed;
    return bytes.length;
  }
}

const EMPTY = Buffer.alloc(0);
