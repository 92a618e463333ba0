import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { amqpProperties, encodePayload, RCPT_HEADER_BUDGET } from '../../src/payload/index.js';
import { ReceivedMessage, type CollectedMessage, type Envelope } from '../../src/sinks/sink.js';
import { cutAt } from '../helpers/cut.js';
import { parseJsonPayload, sha256 } from '../sinks/helpers.js';

const receivedAt = new Date('2026-11-22T08:00:00.123Z');

function message(bytes: Buffer, envelope: Partial<Envelope> = {}): CollectedMessage {
  return {
    bytes,
    sha256: sha256(bytes),
    envelope: { mailFrom: 'spammer@example.net', rcptTo: ['trap@example.org'], receivedAt, size: bytes.length, ...envelope },
  };
}

/** Encodes as json and checks what every consumer relies on: same bytes back, same sha256. */
function roundTrip(bytes: Buffer) {
  const msg = message(bytes);
  const { doc, bytes: decoded } = parseJsonPayload(encodePayload(msg, 'json'));
  assert.ok(decoded.equals(bytes), 'decoded bytes differ from the original');
  assert.equal(doc.sha256, sha256(decoded));
  return doc;
}

describe('json payload', () => {
  test('valid UTF-8 is carried as text, with sha256 and msg as the first keys', () => {
    const text = 'Subject: Grüße 👋\r\n\r\nHello "world" \\ tab\there\r\n';
    const doc = roundTrip(Buffer.from(text, 'utf8'));
    assert.equal(doc.msg, text);
    assert.equal(doc.encoding, undefined);
    assert.deepEqual(Object.keys(doc).slice(0, 2), ['sha256', 'msg']);
  });

  test('8-bit Latin-1 is not valid UTF-8: base64 with "encoding": "base64"', () => {
    const doc = roundTrip(Buffer.from('Subject: Gr\xfc\xdfe\r\n\r\ncaf\xe9\r\n', 'latin1'));
    assert.equal(doc.encoding, 'base64');
  });

  for (const [name, bytes] of [
    ['a truncated sequence', [0x61, 0xc3]],
    ['a stray continuation byte', [0x80, 0x61]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ] as const) {
    test(`invalid UTF-8 (${name}) is base64`, () => {
      assert.equal(roundTrip(Buffer.from(bytes)).encoding, 'base64');
    });
  }

  test('NUL and other control bytes are valid UTF-8 and survive as escaped text', () => {
    const bytes = Buffer.from([0x00, 0x01, 0x1f, 0x7f, 0x0a, 0x0d, 0x41, 0x00]);
    const doc = roundTrip(bytes);
    assert.equal(doc.encoding, undefined);
    // The same JSON text a standard encoder would produce for that string
    assert.ok(encodePayload(message(bytes), 'json').includes(JSON.stringify(bytes.toString('utf8'))));
  });

  test('the text of small and large messages is the JSON string a standard encoder writes', () => {
    const line = 'ctl \x00\x01\x1f\x7f "q" \\ \t tab ünï 👋 \u2028\r\n';
    for (const repeat of [1, 20_000]) {
      const text = line.repeat(repeat);
      const payload = encodePayload(message(Buffer.from(text, 'utf8')), 'json');
      assert.ok(payload.includes(`"msg":${JSON.stringify(text)},`), `${text.length} characters`);
    }
  });

  test('an empty message is an empty string', () => {
    const doc = roundTrip(Buffer.alloc(0));
    assert.equal(doc.msg, '');
    assert.equal(doc.envelope.size, 0);
  });

  test('large messages round-trip, as text and as base64', () => {
    const line = Buffer.from('Lorem ipsum dolor sit amet, "quoted" \\ backslash, ünïcödé \t tab, ok.\r\n');
    const text = Buffer.alloc(9 * 1024 * 1024 + 7, line);
    assert.equal(roundTrip(text).encoding, undefined);
    const binary = Buffer.alloc(9 * 1024 * 1024 + 2);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 131 + (i >> 8)) & 0xff;
    assert.equal(roundTrip(binary).encoding, 'base64');
  });

  test('a message kept in the pieces it arrived in encodes to the same bytes as the joined message, cut anywhere', () => {
    // Above 256 KiB the pieces are encoded one by one (never joined); the cuts fall inside escapes,
    // multi-byte characters and base64 groups. fast-check picks the repeated unit and the cuts.
    const unit = fc.oneof(
      fc.constantFrom('"q" \\ \t ünï 👋 \x00\r\n', 'plain ascii line\r\n').map((s) => Buffer.from(s, 'utf8')),
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
    );
    const cuts = fc.array(fc.nat(), { maxLength: 12 });
    fc.assert(
      fc.property(unit, cuts, fc.boolean(), (u, at, small) => {
        const bytes = Buffer.alloc(small ? 1000 : 300 * 1024, u);
        const parts = cutAt(bytes, at);
        const joined = message(bytes);
        const pieces = new ReceivedMessage(parts, joined.sha256, joined.envelope);
        for (const format of ['json', 'raw'] as const) {
          assert.ok(encodePayload(pieces, format).equals(encodePayload(joined, format)), `${format}, ${parts.length} pieces`);
        }
      }),
      { numRuns: 150, seed: 20261202 },
    );
  });

  test('any byte sequence round-trips exactly', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'binary' }).map((s) => new TextEncoder().encode(s))), (arr) => {
        roundTrip(Buffer.from(arr));
      }),
      { numRuns: 200 },
    );
  });

  test('the envelope has snake_case keys; absent fields are left out, extra fields added but never override', () => {
    const msg = message(Buffer.from('x'), {
      rcptTo: ['a@example.org', 'b@example.org'],
      clientAddress: '203.0.113.9',
      helo: 'spam.example',
      extra: { source: 'imap', uid: 42, mail_from: 'forged@example.com' },
    });
    const { doc } = parseJsonPayload(encodePayload(msg, 'json'));
    assert.deepEqual(doc.envelope, {
      mail_from: 'spammer@example.net',
      rcpt_to: ['a@example.org', 'b@example.org'],
      client_address: '203.0.113.9',
      helo: 'spam.example',
      received_at: '2026-11-22T08:00:00.123Z',
      size: 1,
      source: 'imap',
      uid: 42,
    });
  });
});

describe('raw payload', () => {
  test('is the exact bytes, not a copy', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x0a, 0x2e, 0x0d]);
    assert.equal(encodePayload(message(bytes), 'raw'), bytes);
  });
});

describe('AMQP properties', () => {
  test('message_id is the sha256; content type follows the format', () => {
    const msg = message(Buffer.from('hello'));
    const json = amqpProperties(msg, 'json');
    assert.equal(json.messageId, msg.sha256);
    assert.equal(json.contentType, 'application/json');
    assert.equal(json.timestamp, Math.floor(receivedAt.getTime() / 1000));
    assert.deepEqual(json.headers, {});
    assert.equal(amqpProperties(msg, 'raw').contentType, 'message/rfc822');
  });

  test('raw carries the envelope in x- headers', () => {
    const msg = message(Buffer.from('hello'), {
      clientAddress: '198.51.100.7',
      clientName: 'unknown',
      helo: 'x',
      protocol: 'ESMTP',
      extra: { mailbox: 'INBOX', uid: 7 },
    });
    assert.deepEqual(amqpProperties(msg, 'raw').headers, {
      'x-sha256': msg.sha256,
      'x-mail-from': 'spammer@example.net',
      'x-rcpt-to': ['trap@example.org'],
      'x-rcpt-count': 1,
      'x-client-address': '198.51.100.7',
      'x-client-name': 'unknown',
      'x-helo': 'x',
      'x-protocol': 'ESMTP',
      'x-received-at': '2026-11-22T08:00:00.123Z',
      'x-size': 5,
      'x-mailbox': 'INBOX',
      'x-uid': 7,
    });
  });

  test('a recipient list too long for an AMQP header table is cut short and marked', () => {
    const rcptTo = Array.from({ length: 1000 }, (_, i) => `${'r'.repeat(60)}${i}@example.org`);
    const headers = amqpProperties(message(Buffer.from('x'), { rcptTo }), 'raw').headers;
    const kept = headers['x-rcpt-to'] as string[];
    assert.ok(kept.length > 0 && kept.length < rcptTo.length);
    assert.deepEqual(kept, rcptTo.slice(0, kept.length));
    assert.ok(kept.reduce((n, r) => n + r.length + 5, 0) <= RCPT_HEADER_BUDGET);
    assert.equal(headers['x-rcpt-count'], 1000);
    assert.equal(headers['x-rcpt-to-truncated'], true);
  });
});
