import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { preparePayload } from '../../src/payload/index.js';
import type { ConfirmChannel } from 'amqplib';
import { enablePreframing, framePayload, preframe } from '../../src/sinks/amqp-frames.js';
import { message } from './helpers.js';

/** Reads body frames back as AMQP 0-9-1 defines them: type 3, channel, size, body, frame-end 0xCE. */
function readBodyFrames(frames: Buffer[]): { bodies: Buffer[]; sizes: number[] } {
  const bodies = frames.map((f) => {
    assert.equal(f[0], 3, 'frame type body');
    const size = f.readUInt32BE(3);
    assert.equal(f.length, 7 + size + 1, 'frame length');
    assert.equal(f[7 + size], 0xce, 'frame end');
    return f.subarray(7, 7 + size);
  });
  return { bodies, sizes: bodies.map((b) => b.length) };
}

test('a payload laid out as its body frames: each frame full but the last, the bodies are the payload', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), fc.constantFrom('json' as const, 'raw' as const), (bytes, maxBody, format) => {
      const msg = message(Buffer.from(bytes));
      const payload = preparePayload(msg, format);
      const expected = Buffer.alloc(payload.length);
      payload.writeTo(expected, 0);
      const { frames, buffer } = framePayload(payload, maxBody);
      const { bodies, sizes } = readBodyFrames(frames);
      assert.ok(Buffer.concat(bodies).equals(expected));
      assert.ok(sizes.slice(0, -1).every((s) => s === maxBody), 'every frame but the last is full');
      assert.ok(frames.every((f) => f.buffer === buffer.buffer), 'slices of one buffer, no copies');
    }),
    { numRuns: 400, seed: 20261202 },
  );
});

test('a connection that does not look like amqplib 2.x is left alone, and nothing is preframed for it', () => {
  // A stand-in (not a real amqplib connection): the case of a future amqplib whose internals differ.
  const unknown = { connection: { frameMax: 131072, channels: [], sendMessage() {} } };
  const channel = unknown as unknown as ConfirmChannel;
  assert.equal(enablePreframing(channel), false);
  assert.equal(Object.keys(unknown.connection).includes('sendContent'), false, 'not patched');
  const payload = preparePayload(message(Buffer.alloc(4 * 1024 * 1024, 'x')), 'raw');
  assert.equal(preframe(channel, payload), undefined, 'amqplib copies the payload into frames itself');
});
