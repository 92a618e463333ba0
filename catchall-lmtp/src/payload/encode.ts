// Turns a collected message into the bytes a broker receives. Lossless either way:
//   json: {"sha256": hex, "msg": text | base64, ["encoding": "base64",] "envelope": {...}} — sha256 and
//         msg come first, so consumers that read only those two keep working. `msg` is the message
//         text when the bytes are valid UTF-8, otherwise their base64 and "encoding": "base64".
//   raw:  the exact message bytes (the wire format of spamtrap-system's backend); the envelope
//         travels beside it (AMQP headers, see amqp-properties.ts).
// The json document is assembled into one buffer of precomputed size, straight from the pieces the
// message arrived in, so a 9 MB message costs about its size once more (base64: 4/3 of it), not
// several copies.
import type { PayloadFormat } from '../config/schema.js';
import { byteLength, partsOf, type CollectedMessage } from '../sinks/sink.js';
import { envelopeRecord } from './envelope.js';
import { escapedLength, writeEscaped } from './json-string.js';
import { isUtf8Parts } from './utf8.js';

export type { PayloadFormat };

/** Base64 is written in slices of this many input bytes (a multiple of 3, so no padding inside). */
const BASE64_SLICE = 3 * 16 * 1024;
const NATIVE_JSON_BYTES = 256 * 1024;
const EMPTY = Buffer.alloc(0);

export function encodePayload(msg: CollectedMessage, format: PayloadFormat): Buffer {
  return format === 'raw' ? msg.bytes : writePayload(preparePayload(msg, format));
}

export function writePayload(payload: PreparedPayload): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  payload.writeTo(out, 0);
  return out;
}

/** A payload measured but not yet written, so that it can be written into a bigger buffer (see amqp-frames.ts). */
export interface PreparedPayload {
  readonly length: number;
  /** Writes exactly `length` bytes at `offset`. */
  writeTo(out: Buffer, offset: number): void;
}

export function preparePayload(msg: CollectedMessage, format: PayloadFormat): PreparedPayload {
  if (format === 'json') return prepareJson(msg);
  const parts = partsOf(msg);
  return {
    length: byteLength(parts),
    writeTo(out, offset) {
      let o = offset;
      for (const p of parts) o += p.copy(out, o);
    },
  };
}

function prepareJson(msg: CollectedMessage): PreparedPayload {
  let parts = partsOf(msg);
  const size = byteLength(parts);
  // Up to NATIVE_JSON_BYTES the engine's JSON.stringify (the same escapes, byte for byte) is twice as
  // fast as our loop; above it the loop saves holding the message as strings, and works on the
  // pieces the message arrived in, so it is never joined (see ReceivedMessage).
  const native = size <= NATIVE_JSON_BYTES;
  if (native && parts.length > 1) parts = [msg.bytes];
  const text = isUtf8Parts(parts);
  const head = Buffer.from(`{"sha256":${JSON.stringify(msg.sha256)},"msg":`, 'utf8');
  const tail = Buffer.from(
    `${text ? '' : ',"encoding":"base64"'},"envelope":${JSON.stringify(envelopeRecord(msg.envelope))}}`,
    'utf8',
  );
  const literal = text && native ? JSON.stringify((parts[0] ?? EMPTY).toString('utf8')) : undefined;
  // Escaped length of each piece, measured once: writeEscaped copies a piece that needs no escape whole.
  const escaped = text && literal === undefined ? parts.map(escapedLength) : [];
  let msgLength = 2 + 4 * Math.ceil(size / 3);
  if (literal !== undefined) msgLength = Buffer.byteLength(literal, 'utf8');
  else if (text) msgLength = 2 + escaped.reduce((n, l) => n + l, 0);
  const length = head.length + msgLength + tail.length;
  return {
    length,
    writeTo(out, offset) {
      let o = offset + head.copy(out, offset);
      if (literal !== undefined) {
        o += out.write(literal, o, 'utf8');
      } else {
        out[o++] = 0x22;
        if (text) parts.forEach((p, i) => (o = writeEscaped(p, out, o, escaped[i])));
        else o = writeBase64(parts, out, o);
        out[o++] = 0x22;
      }
      o += tail.copy(out, o);
      if (o !== offset + length) throw new Error(`json payload length mismatch: wrote ${o - offset} of ${length} bytes`);
    },
  };
}

/** Base64 of the pieces as one text, in slices (no string of the whole message). */
function writeBase64(parts: readonly Buffer[], out: Buffer, offset: number): number {
  let o = offset;
  let carry: Buffer = EMPTY; // 1 or 2 bytes left over from the previous piece: base64 works in threes
  for (const part of parts) {
    let piece = part;
    if (carry.length > 0) {
      const need = 3 - carry.length;
      if (piece.length < need) {
        carry = Buffer.concat([carry, piece]);
        continue;
      }
      o += out.write(Buffer.concat([carry, piece.subarray(0, need)]).toString('base64'), o, 'latin1');
      piece = piece.subarray(need);
    }
    const whole = piece.length - (piece.length % 3);
    for (let i = 0; i < whole; i += BASE64_SLICE) {
      o += out.write(piece.subarray(i, Math.min(whole, i + BASE64_SLICE)).toString('base64'), o, 'latin1');
    }
    carry = piece.subarray(whole);
  }
  if (carry.length > 0) o += out.write(carry.toString('base64'), o, 'latin1');
  return o;
}
