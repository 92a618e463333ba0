// Property tests: every opcode round-trips through encode → decode under any chunking, and no byte
// sequence can make the decoder throw anything but HpfeedsProtocolError, loop, or hold more than a frame.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, HpfeedsProtocolError, type Frame, type FrameLimits } from '../../src/hpfeeds/index.js';
import { cutAt } from '../helpers/cut.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
// Any Unicode scalar values (no lone surrogates), at most 255 bytes as UTF-8.
const text = (maxBytes = 255) => fc.string({ unit: 'binary', maxLength: maxBytes }).filter((s) => Buffer.byteLength(s) <= maxBytes);

// deepEqual compares prototypes, and fast-check builds null-prototype records by default.
const plain = { noNullPrototype: true } as const;
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ op: fc.constant('error' as const), text: fc.string({ unit: 'binary', maxLength: 300 }) }, plain),
  fc.record({ op: fc.constant('info' as const), name: text(), nonce: bytes(20) }, plain),
  fc.record({ op: fc.constant('auth' as const), ident: text(), hash: bytes(20) }, plain),
  fc.record({ op: fc.constant('publish' as const), ident: text(), channel: text(), payload: bytes(2000) }, plain),
  fc.record({ op: fc.constant('subscribe' as const), ident: text(), channel: fc.string({ unit: 'binary', maxLength: 400 }) }, plain),
  fc.record({ op: fc.constant('unsubscribe' as const), ident: text(), channel: fc.string({ unit: 'binary', maxLength: 400 }) }, plain),
);

const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

describe('codec properties', () => {
  test('every frame round-trips through encode and decode, whole, chunked and one byte at a time', { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), cutsArb, (frames, cuts) => {
        const wire = Buffer.concat(frames.map(encodeFrame));
        assert.deepEqual(new FrameDecoder().push(wire), frames);

        const chunked = new FrameDecoder();
        assert.deepEqual(cutAt(wire, cuts).flatMap((c) => chunked.push(c)), frames);
        assert.equal(chunked.bufferedBytes, 0);

        const bytewise = new FrameDecoder();
        const got: Frame[] = [];
        for (let i = 0; i < wire.length; i++) got.push(...bytewise.push(wire.subarray(i, i + 1)));
        assert.deepEqual(got, frames);
      }),
      { numRuns: 300 },
    );
  });

  test('random garbage in random chunkings: only HpfeedsProtocolError, bounded buffer, decoded frames re-encode to their input bytes', { timeout: 20_000 }, () => {
    // Small limits so that garbage regularly declares plausible, over-limit and under-5 lengths.
    const limitsArb = fc.record({
      error: fc.integer({ min: 5, max: 600 }),
      info: fc.integer({ min: 5, max: 600 }),
      auth: fc.integer({ min: 5, max: 600 }),
      publish: fc.integer({ min: 5, max: 600 }),
      subscribe: fc.integer({ min: 5, max: 600 }),
      unsubscribe: fc.integer({ min: 5, max: 600 }),
    });
    // Garbage: random bytes, plausible headers (small length, opcode 0..7), valid frames, and valid frames
    // with bytes of their body overwritten or their body cut short (header length fixed up), which is
    // what reaches the string8 and UTF-8 checks.
    const header = fc.tuple(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 0, max: 7 })).map(([len, op]) => {
      const h = Buffer.alloc(5);
      h.writeUInt32BE(len);
      h[4] = op;
      return h;
    });
    const mutated = fc
      .tuple(frameArb.map(encodeFrame), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat()))
      .map(([wire, edits, cut]) => {
        let b = Buffer.from(wire);
        if (cut !== null) {
          b = b.subarray(0, 5 + (cut % (b.length - 5 + 1)));
          b.writeUInt32BE(b.length);
        }
        for (const [at, value] of edits) if (b.length > 5) b[5 + (at % (b.length - 5))] = value;
        return b;
      });
    const piece = fc.oneof(
      { arbitrary: bytes(60), weight: 1 },
      { arbitrary: header, weight: 1 },
      { arbitrary: frameArb.map(encodeFrame), weight: 2 },
      { arbitrary: mutated, weight: 4 },
    );
    fc.assert(
      fc.property(limitsArb, fc.array(piece, { maxLength: 10 }), cutsArb, (limits: FrameLimits, pieces, cuts) => {
        const wire = Buffer.concat(pieces);
        const decoder = new FrameDecoder({ limits });
        const maxLimit = Math.max(...Object.values(limits));
        const frames: Frame[] = [];
        let failed: HpfeedsProtocolError | undefined;
        for (const c of cutAt(wire, cuts)) {
          try {
            frames.push(...decoder.push(c));
          } catch (err) {
            assert.ok(err instanceof HpfeedsProtocolError, `untyped error: ${String(err)}`);
            assert.ok(typeof err.code === 'string' && err.message.length > 0);
            failed = err;
            break;
          }
          // Never more than one incomplete frame, which is below its own limit.
          assert.ok(decoder.bufferedBytes < maxLimit, `buffered ${decoder.bufferedBytes} with limits ${JSON.stringify(limits)}`);
        }
        if (failed) {
          assert.throws(() => decoder.push(Buffer.alloc(1)), (e) => e === failed, 'a failed decoder stays failed');
        }
        // Each decoded frame re-encodes to exactly the bytes it came from. ERROR text is decoded leniently,
        // so an ERROR is compared only when its bytes are valid UTF-8.
        let at = 0;
        for (const f of frames) {
          const original = wire.subarray(at, at + wire.readUInt32BE(at));
          at += original.length;
          if (f.op === 'error' && !Buffer.from(f.text).equals(original.subarray(5))) continue;
          assert.ok(encodeFrame(f).equals(original), `${f.op} frame does not re-encode to its input bytes`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
