// The codec against every test vector of the hpfeeds spec, and each way a frame can be invalid.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  authHash,
  DEFAULT_LIMITS,
  DEFAULT_MAX_FRAME,
  encodeAuth,
  encodeError,
  encodeFrame,
  encodeInfo,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
  FrameDecoder,
  HpfeedsProtocolError,
  OP,
  publishFrameSize,
  type Frame,
  type HpfeedsProtocolErrorCode,
} from '../../src/hpfeeds/index.js';
// Not in the package surface: only tests build frames with arbitrary opcodes.
import { encodeRawFrame } from '../../src/hpfeeds/codec.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decodes bytes fed one byte at a time, the harshest chunking. */
function decodeBytewise(bytes: Buffer, decoder = new FrameDecoder()): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1)));
  return out;
}

function assertProtocolError(fn: () => unknown, code: HpfeedsProtocolErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HpfeedsProtocolError, `expected HpfeedsProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('spec test vectors', () => {
  test('header for op 1 with body "abcdefg"', () => {
    const bytes = hex('00 00 00 0c 01 61 62 63 64 65 66 67');
    assert.deepEqual(encodeRawFrame(OP.INFO, Buffer.from('abcdefg')), bytes);
    // The decoder reads the same header: it waits for exactly 12 bytes, then parses the body as INFO,
    // whose name length byte 0x61 (97) overruns the 6 bytes left.
    const d = new FrameDecoder();
    assert.deepEqual(d.push(bytes.subarray(0, 11)), []);
    assert.equal(d.bufferedBytes, 11);
    assertProtocolError(() => d.push(bytes.subarray(11)), 'STRING_OVERRUN', /^INFO broker name declares 97 bytes but only 6 remain in the frame$/);
  });

  test('PUBLISH ident "ident", channel "chan", payload "somedata"', () => {
    const bytes = hex('00 00 00 18 03 05 69 64 65 6e 74 04 63 68 61 6e 73 6f 6d 65 64 61 74 61');
    assert.deepEqual(encodePublish('ident', 'chan', Buffer.from('somedata')), bytes);
    assert.deepEqual(encodePublish('ident', 'chan', 'somedata'), bytes);
    assert.deepEqual(new FrameDecoder().push(bytes), [{ op: 'publish', ident: 'ident', channel: 'chan', payload: Buffer.from('somedata') }]);
    assert.equal(publishFrameSize('ident', 'chan', 8), bytes.length);
  });

  test('SUBSCRIBE ident "ident", channel "chan"', () => {
    const bytes = hex('00 00 00 0f 04 05 69 64 65 6e 74 63 68 61 6e');
    assert.deepEqual(encodeSubscribe('ident', 'chan'), bytes);
    assert.deepEqual(decodeBytewise(bytes), [{ op: 'subscribe', ident: 'ident', channel: 'chan' }]);
  });

  test('UNSUBSCRIBE has the SUBSCRIBE layout with opcode 5', () => {
    const bytes = hex('00 00 00 0f 05 05 69 64 65 6e 74 63 68 61 6e');
    assert.deepEqual(encodeUnsubscribe('ident', 'chan'), bytes);
    assert.deepEqual(decodeBytewise(bytes), [{ op: 'unsubscribe', ident: 'ident', channel: 'chan' }]);
  });

  test('AUTH with nonce "rand", ident "ident", secret "secret"', () => {
    const hash = authHash(Buffer.from('rand'), 'secret');
    assert.equal(hash.toString('hex'), 'bfa95e1149cd9e7380fdfc614a57095ab719c1b4');
    const bytes = hex('00 00 00 1f 02 05 69 64 65 6e 74 bf a9 5e 11 49 cd 9e 73 80 fd fc 61 4a 57 09 5a b7 19 c1 b4');
    assert.deepEqual(encodeAuth('ident', hash), bytes);
    assert.deepEqual(decodeBytewise(bytes), [{ op: 'auth', ident: 'ident', hash }]);
  });

  test('INFO name "hpfeeds", nonce a1b2c3d4, and the AUTH answering it', () => {
    const nonce = hex('a1 b2 c3 d4');
    const info = hex('00 00 00 11 01 07 68 70 66 65 65 64 73 a1 b2 c3 d4');
    assert.deepEqual(encodeInfo('hpfeeds', nonce), info);
    assert.deepEqual(decodeBytewise(info), [{ op: 'info', name: 'hpfeeds', nonce }]);

    const hash = authHash(nonce, 'secret');
    assert.equal(hash.toString('hex'), '0cd92030168855d871073997b459d1122f0ae20b');
    const auth = hex('00 00 00 20 02 06 77 72 69 74 65 72 0c d9 20 30 16 88 55 d8 71 07 39 97 b4 59 d1 12 2f 0a e2 0b');
    assert.deepEqual(encodeAuth('writer', hash), auth);
    assert.deepEqual(new FrameDecoder().push(auth), [{ op: 'auth', ident: 'writer', hash }]);
  });

  test('ERROR "Invalid ident"', () => {
    const bytes = hex('00 00 00 12 00 49 6e 76 61 6c 69 64 20 69 64 65 6e 74');
    assert.deepEqual(encodeError('Invalid ident'), bytes);
    assert.deepEqual(decodeBytewise(bytes), [{ op: 'error', text: 'Invalid ident' }]);
  });

  test('the largest PUBLISH the reference accepts (ident "", channel "", 1 048 574 bytes) and one byte more', () => {
    const payload = Buffer.alloc(1048574, 0x5a);
    const largest = encodePublish('', '', payload);
    assert.equal(largest.length, DEFAULT_MAX_FRAME);
    const [frame] = new FrameDecoder().push(largest);
    assert.ok(frame?.op === 'publish' && frame.payload.equals(payload));

    const over = encodePublish('', '', Buffer.alloc(1048575));
    // Rejected from the header alone: only the first 5 bytes are needed.
    assertProtocolError(() => new FrameDecoder().push(over.subarray(0, 5)), 'FRAME_TOO_LARGE', /1048582 bytes exceeds the limit of 1048581/);
  });
});

describe('decoder', () => {
  test('several frames in one chunk, and a frame split across chunks at every position', () => {
    const frames: Frame[] = [
      { op: 'info', name: 'hpfeeds', nonce: hex('01020304') },
      { op: 'publish', ident: 'w', channel: 'spam.mails', payload: Buffer.from('hello') },
      { op: 'error', text: '' },
      { op: 'unsubscribe', ident: 'r', channel: '' },
    ];
    const bytes = Buffer.concat(frames.map(encodeFrame));
    assert.deepEqual(new FrameDecoder().push(bytes), frames);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(got, frames, `split at ${cut}`);
      assert.equal(d.bufferedBytes, 0);
    }
  });

  test('holds only the incomplete frame between pushes', () => {
    const d = new FrameDecoder();
    const bytes = encodePublish('a', 'b', Buffer.alloc(1000));
    assert.deepEqual(d.push(bytes.subarray(0, 3)), []);
    assert.equal(d.bufferedBytes, 3);
    assert.deepEqual(d.push(bytes.subarray(3, 700)), []);
    assert.equal(d.bufferedBytes, 700);
    assert.equal(d.push(bytes.subarray(700)).length, 1);
    assert.equal(d.bufferedBytes, 0);
  });

  test('payloads of completed frames are not overwritten by later input', () => {
    const d = new FrameDecoder();
    const a = encodePublish('i', 'c', Buffer.alloc(300, 1));
    const b = encodePublish('i', 'c', Buffer.alloc(300, 2));
    const got = [...decodeBytewise(a, d), ...decodeBytewise(b, d)];
    assert.ok(got[0]?.op === 'publish' && got[0].payload.every((x) => x === 1));
    assert.ok(got[1]?.op === 'publish' && got[1].payload.every((x) => x === 2));
  });

  test('declared length below 5 is rejected (the reference loops forever)', () => {
    for (const len of [0, 1, 4]) {
      const header = Buffer.from([0, 0, 0, len, OP.PUBLISH]);
      assertProtocolError(() => decodeBytewise(header), 'LENGTH_TOO_SMALL', new RegExp(`length ${len}`));
    }
  });

  test('unknown opcode is rejected', () => {
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 05 06')), 'UNKNOWN_OPCODE', /opcode 6/);
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 06 ff 00')), 'UNKNOWN_OPCODE', /opcode 255/);
  });

  test('per-opcode limits: INFO/AUTH 281, SUBSCRIBE/UNSUBSCRIBE 1048576, PUBLISH/ERROR 5+1048576', () => {
    assert.deepEqual({ ...DEFAULT_LIMITS }, {
      error: 1048581, info: 281, auth: 281, publish: 1048581, subscribe: 1048576, unsubscribe: 1048576,
    });
    const header = (len: number, op: number) => {
      const h = Buffer.alloc(5);
      h.writeUInt32BE(len);
      h[4] = op;
      return h;
    };
    const limits: [number, number][] = [[OP.ERROR, 1048581], [OP.INFO, 281], [OP.AUTH, 281], [OP.PUBLISH, 1048581], [OP.SUBSCRIBE, 1048576], [OP.UNSUBSCRIBE, 1048576]];
    for (const [op, limit] of limits) {
      assert.deepEqual(new FrameDecoder().push(header(limit, op)), [], `op ${op} at its limit is buffered`);
      assertProtocolError(() => new FrameDecoder().push(header(limit + 1, op)), 'FRAME_TOO_LARGE', new RegExp(`limit of ${limit} bytes`));
    }
    // A real AUTH of exactly 281 bytes: 255-byte ident + 20-byte hash.
    const maxAuth = encodeAuth('x'.repeat(255), Buffer.alloc(20));
    assert.equal(maxAuth.length, 281);
    assert.equal(new FrameDecoder().push(maxAuth).length, 1);
  });

  test('the limits are configurable per opcode', () => {
    const d = new FrameDecoder({ limits: { publish: 64 } });
    assert.equal(d.push(encodePublish('i', 'c', Buffer.alloc(55))).length, 1); // 5 + 2 + 2 + 55 = 64
    const over = encodePublish('i', 'c', Buffer.alloc(56));
    assert.equal(over.length, 65);
    assertProtocolError(() => d.push(over), 'FRAME_TOO_LARGE', /65 bytes exceeds the limit of 64/);
    const big = new FrameDecoder({ limits: { publish: 8 * 1024 * 1024 } });
    assert.equal(big.push(encodePublish('i', 'c', Buffer.alloc(4 * 1024 * 1024))).length, 1);
    assert.throws(() => new FrameDecoder({ limits: { auth: 4 } }), RangeError);
  });

  test('string8 overrun: the declared string runs past the body, or the length byte is missing', () => {
    // PUBLISH whose ident claims 9 bytes in a 5-byte body.
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 0a 03 09 61 62 63 64')), 'STRING_OVERRUN', /ident declares 9 bytes but only 4 remain/);
    // PUBLISH whose channel overruns after a good ident.
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 09 03 01 61 05 62')), 'STRING_OVERRUN', /channel declares 5/);
    // PUBLISH that ends right after the ident (no channel length byte).
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 07 03 01 61')), 'STRING_OVERRUN', /length byte of its channel/);
    // Empty bodies where a string8 is required.
    for (const op of [OP.INFO, OP.AUTH, OP.PUBLISH, OP.SUBSCRIBE, OP.UNSUBSCRIBE]) {
      assertProtocolError(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 5, op])), 'STRING_OVERRUN');
    }
    // The spec's "op 1 with body abcdefg": as INFO, its name length byte 0x61 overruns.
    assertProtocolError(() => new FrameDecoder().push(hex('00 00 00 0c 01 61 62 63 64 65 66 67')), 'STRING_OVERRUN');
  });

  test('invalid UTF-8 in ident or channel is rejected; payload and ERROR text are not text-checked', () => {
    const badUtf8 = Buffer.from([0xc3, 0x28]);
    const pub = (ident: Buffer, channel: Buffer) =>
      Buffer.concat([hex('00000000 03'), Buffer.of(ident.length), ident, Buffer.of(channel.length), channel, Buffer.from([0xff])]);
    const withLength = (b: Buffer) => (b.writeUInt32BE(b.length), b);
    assertProtocolError(() => new FrameDecoder().push(withLength(pub(badUtf8, Buffer.from('c')))), 'INVALID_UTF8', /PUBLISH ident/);
    assertProtocolError(() => new FrameDecoder().push(withLength(pub(Buffer.from('i'), badUtf8))), 'INVALID_UTF8', /PUBLISH channel/);
    const sub = withLength(Buffer.concat([hex('00000000 04 01 69'), Buffer.from([0xed, 0xa0, 0x80])])); // encoded surrogate
    assertProtocolError(() => new FrameDecoder().push(sub), 'INVALID_UTF8', /SUBSCRIBE channel/);
    const auth = withLength(Buffer.concat([hex('00000000 02 01 ff'), Buffer.alloc(20)]));
    assertProtocolError(() => new FrameDecoder().push(auth), 'INVALID_UTF8', /AUTH ident/);

    const [f] = new FrameDecoder().push(withLength(pub(Buffer.from('i'), Buffer.from('c'))));
    assert.ok(f?.op === 'publish' && f.payload.equals(Buffer.from([0xff])));
    const [e] = new FrameDecoder().push(withLength(Buffer.concat([hex('00000000 00'), Buffer.from([0x6f, 0x6b, 0xff])])));
    assert.deepEqual(e, { op: 'error', text: 'ok\ufffd' });
  });

  test('a UTF-8 byte-order mark in a channel is kept, not stripped', () => {
    const channel = '\ufeffchan';
    assert.deepEqual(new FrameDecoder().push(encodeSubscribe('i', channel)), [{ op: 'subscribe', ident: 'i', channel }]);
  });

  test('after an error the decoder stays failed and drops its buffer', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from([0, 0]));
    assert.throws(() => d.push(hex('00 07 09')), HpfeedsProtocolError);
    assert.equal(d.bufferedBytes, 0);
    assertProtocolError(() => d.push(encodeError('fine')), 'UNKNOWN_OPCODE');
  });
});

describe('encoders', () => {
  test('string8 fields over 255 bytes are refused, naming the field and size', () => {
    assert.equal(encodeSubscribe('x'.repeat(255), 'c').length, 5 + 1 + 255 + 1);
    assertProtocolError(() => encodePublish('i', 'é'.repeat(128), ''), 'STRING_TOO_LONG', /channel is 256 bytes/);
    assertProtocolError(() => encodeAuth('x'.repeat(256), Buffer.alloc(20)), 'STRING_TOO_LONG', /ident is 256 bytes/);
    assertProtocolError(() => encodeInfo('n'.repeat(300), Buffer.alloc(4)), 'STRING_TOO_LONG', /broker name/);
  });

  test('lone surrogates are refused instead of silently becoming U+FFFD', () => {
    assertProtocolError(() => encodeSubscribe('i', 'chan\ud800'), 'INVALID_UTF8', /channel/);
    assertProtocolError(() => encodePublish('\udc00', 'c', ''), 'INVALID_UTF8', /ident/);
    // A proper pair is fine.
    assert.deepEqual(new FrameDecoder().push(encodeSubscribe('i', '😀')), [{ op: 'subscribe', ident: 'i', channel: '😀' }]);
  });
});
