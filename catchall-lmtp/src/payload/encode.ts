// Turns a collected message into the bytes a broker receives. Lossless either way:
//   json: {"sha256": hex, "msg": text | base64, ["encoding": "base64",] "envelope": {...}} — sha256 and
//         msg come first, so consumers that read only those two keep working. `msg` is the message
//         text when the bytes are valid UTF-8, otherwise their base64 and "encoding": "base64".
//   raw:  the exact message bytes (the wire format of spamtrap-system's backend); the envelope
//         travels beside it (AMQP headers, see amqp-properties.ts).
// The json document is assembled into one buffer of precomputed size, so a 9 MB message costs
// about its size once more (base64: 4/3 of it), not several copies.
import { isUtf8 } from 'node:buffer';
import type { PayloadFormat } from '../config/schema.js';
import type { CollectedMessage } from '../sinks/sink.js';
import { envelopeRecord } from './envelope.js';
import { jsonStringLength, writeJsonString } from './json-string.js';

export type { PayloadFormat };

/** Base64 is written in slices of this many input bytes (a multiple of 3, so no padding inside). */
const BASE64_SLICE = 3 * 16 * 1024;
const NATIVE_JSON_BYTES = 256 * 1024;

export function encodePayload(msg: CollectedMessage, format: PayloadFormat): Buffer {
  return format === 'raw' ? msg.bytes : encodeJson(msg);
}

/** Whether the json payload carries the message as text (true) or as base64 (false). */
export function isText(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

function encodeJson(msg: CollectedMessage): Buffer {
  const text = isText(msg.bytes);
  const head = Buffer.from(`{"sha256":${JSON.stringify(msg.sha256)},"msg":`, 'utf8');
  const tail = Buffer.from(
    `${text ? '' : ',"encoding":"base64"'},"envelope":${JSON.stringify(envelopeRecord(msg.envelope))}}`,
    'utf8',
  );
  // Up to NATIVE_JSON_BYTES the engine's JSON.stringify (the same escapes, byte for byte) is twice as
  // fast as our loop; above it the loop saves holding the message as strings.
  const literal = text && msg.bytes.length <= NATIVE_JSON_BYTES ? JSON.stringify(msg.bytes.toString('utf8')) : undefined;
  const msgLength =
    literal !== undefined ? Buffer.byteLength(literal, 'utf8') : text ? jsonStringLength(msg.bytes) : 2 + 4 * Math.ceil(msg.bytes.length / 3);
  const out = Buffer.allocUnsafe(head.length + msgLength + tail.length);
  let o = head.copy(out, 0);
  if (literal !== undefined) {
    o += out.write(literal, o, 'utf8');
  } else if (text) {
    o = writeJsonString(msg.bytes, out, o, msgLength);
  } else {
    out[o++] = 0x22;
    for (let i = 0; i < msg.bytes.length; i += BASE64_SLICE) {
      o += out.write(msg.bytes.subarray(i, i + BASE64_SLICE).toString('base64'), o, 'latin1');
    }
    out[o++] = 0x22;
  }
  o += tail.copy(out, o);
  if (o !== out.length) throw new Error(`json payload length mismatch: wrote ${o} of ${out.length} bytes`);
  return out;
}
