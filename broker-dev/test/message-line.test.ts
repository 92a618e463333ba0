import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { messageLine } from '../src/cli/message-line.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('spam JSON with a text msg: sha256 recomputed and verified', () => {
  const msg = 'Subject: hi\r\n\r\nbody\r\n';
  const payload = Buffer.from(JSON.stringify({ sha256: sha(Buffer.from(msg)), msg }));
  const line = messageLine('writer', 'spam.mails', payload);
  assert.deepEqual(line, { ident: 'writer', channel: 'spam.mails', payload: payload.toString(), sha256: sha(Buffer.from(msg)), sha256_ok: true });
});

test('spam JSON with a base64 msg (non-UTF-8 mail) verifies the decoded bytes', () => {
  const bytes = Buffer.from([0xff, 0x00, 0x0a, 0xc3]);
  const payload = Buffer.from(JSON.stringify({ sha256: sha(bytes), msg: bytes.toString('base64'), encoding: 'base64' }));
  assert.equal(messageLine('w', 'c', payload).sha256_ok, true);
});

test('a wrong sha256 in the payload is reported, not hidden', () => {
  const payload = Buffer.from(JSON.stringify({ sha256: sha(Buffer.from('other')), msg: 'mail' }));
  const line = messageLine('w', 'c', payload);
  assert.equal(line.sha256, sha(Buffer.from('mail')));
  assert.equal(line.sha256_ok, false);
});

test('raw bytes: base64 payload, sha256 of the payload, nothing to verify against', () => {
  const raw = Buffer.from([0x80, 0x81, 0x82]);
  assert.deepEqual(messageLine('w', 'c', raw), { ident: 'w', channel: 'c', payload: 'gIGC', encoding: 'base64', sha256: sha(raw) });
  const text = Buffer.from('plain text, not JSON');
  assert.deepEqual(messageLine('w', 'c', text), { ident: 'w', channel: 'c', payload: 'plain text, not JSON', sha256: sha(text) });
});
