// amqplib copies a message body into body frames of the connection's frameMax (makeBodyFrame), so a
// large message was held three times while it was published: its bytes, its payload, and the frames.
// A payload can instead be written straight into the layout of its frames (preframe), which the
// connection then writes as slices of that one buffer (our sendContent, installed on each connection
// we open). Small payloads gain too: one allocation and copy fewer per message.
// A body frame (AMQP 0-9-1, 4.2.3): type 3 | channel u16 | size u32 | body | frame end 0xCE.
import type { ConfirmChannel } from 'amqplib';
import type { PreparedPayload } from '../payload/index.js';

const FRAME_BODY = 3;
const FRAME_END = 0xce;
const FRAME_HEAD = 7;
const FRAME_OVERHEAD = FRAME_HEAD + 1;
/**
 * Payloads from this size on are preframed; below it amqplib copies method, header and body into one
 * chunk (SINGLE_CHUNK_THRESHOLD, 2048 in amqplib 2.x) without calling sendContent.
 */
const PREFRAME_MIN_BYTES = 2048;
/** A payload of several frames is preframed only from this size on (its stand-in is not the payload). */
const MULTI_FRAME_MIN_BYTES = 1024 * 1024;

/** The part of amqplib's Connection this relies on (lib/connection.js, amqplib 2.x). */
interface FramingConnection {
  frameMax: number;
  channels: ({ buffer: { write(chunk: Buffer): boolean } } | null)[];
  sentSinceLastCheck: boolean;
  sendContent(channel: number, body: Buffer): boolean;
}

/** Body frames by the stand-in Buffer that is passed to publish() in the payload's place. */
const framesOf = new WeakMap<Buffer, Buffer[]>();
const installed = new WeakSet<object>();

/**
 * Lets the connection send preframed payloads. Returns false, leaving the connection untouched, if
 * it does not look like the amqplib connection this was written for: payloads are then copied into
 * frames by amqplib as usual.
 */
export function enablePreframing(channel: ConfirmChannel): boolean {
  const connection = (channel as unknown as { connection?: Partial<FramingConnection> }).connection;
  if (!connection || installed.has(connection)) return !!connection;
  if (typeof connection.sendContent !== 'function' || typeof connection.frameMax !== 'number' || !Array.isArray(connection.channels)) return false;
  const copying = connection.sendContent;
  connection.sendContent = function sendContent(this: FramingConnection, ch: number, body: Buffer): boolean {
    const frames = framesOf.get(body);
    if (!frames) return copying.call(this, ch, body);
    framesOf.delete(body);
    const buffer = this.channels[ch]!.buffer;
    let accepting = true;
    for (const frame of frames) {
      frame.writeUInt16BE(ch, 1);
      accepting = buffer.write(frame);
    }
    this.sentSinceLastCheck = true;
    return accepting;
  };
  installed.add(connection);
  return true;
}

/**
 * The payload written into its body frames for this channel's connection, or undefined when it is
 * not worth it or not safe (see below and enablePreframing). What is returned goes to publish() as
 * the content: a Buffer of the payload's length that stands for it.
 */
export function preframe(channel: ConfirmChannel, payload: PreparedPayload): Buffer | undefined {
  const connection = (channel as unknown as { connection?: FramingConnection }).connection;
  if (payload.length < PREFRAME_MIN_BYTES || !connection || !installed.has(connection)) return undefined;
  const maxBody = connection.frameMax - FRAME_OVERHEAD;
  if (!(maxBody > 0)) return undefined; // amqplib itself refuses to send content then
  // In one frame the payload lies whole between the frame's head and end byte, so what stands for it
  // is the payload itself, right even if amqplib took another path. Across frames it is only a
  // stand-in, so that is done only from a size no amqplib path sends without sendContent.
  const single = payload.length <= maxBody;
  if (!single && payload.length < MULTI_FRAME_MIN_BYTES) return undefined;
  const { buffer, frames } = framePayload(payload, maxBody);
  const standIn = single ? buffer.subarray(FRAME_HEAD, FRAME_HEAD + payload.length) : buffer.subarray(0, payload.length);
  framesOf.set(standIn, frames);
  return standIn;
}

/**
 * Writes the payload at the end of one buffer, then moves each block of up to maxBody bytes left
 * into place between its frame head and end byte (a block never moves over one not yet moved).
 */
export function framePayload(payload: PreparedPayload, maxBody: number): { buffer: Buffer; frames: Buffer[] } {
  const count = Math.ceil(payload.length / maxBody);
  const start = count * FRAME_OVERHEAD;
  const buffer = Buffer.allocUnsafe(start + payload.length);
  payload.writeTo(buffer, start);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const from = start + i * maxBody;
    const size = Math.min(maxBody, payload.length - i * maxBody);
    const at = i * (maxBody + FRAME_OVERHEAD);
    buffer.copyWithin(at + FRAME_HEAD, from, from + size);
    buffer[at] = FRAME_BODY;
    buffer.writeUInt16BE(0, at + 1); // the channel, set when it is sent
    buffer.writeUInt32BE(size, at + 3);
    buffer[at + FRAME_HEAD + size] = FRAME_END;
    frames.push(buffer.subarray(at, at + FRAME_HEAD + size + 1));
  }
  return { buffer, frames };
}
