import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partsOf, ReceivedMessage } from '../../src/sinks/sink.js';
import { message } from './helpers.js';

test('a received message keeps its pieces until its bytes are asked for, then joins them once and lets them go', () => {
  const pieces = [Buffer.from('Subject: a\r\n'), Buffer.from('\r\nbo'), Buffer.from('dy\r\n')];
  const { sha256, envelope } = message(Buffer.concat(pieces));
  const received = new ReceivedMessage(pieces, sha256, envelope);
  assert.equal(partsOf(received), pieces);
  const bytes = received.bytes;
  assert.equal(bytes.toString(), 'Subject: a\r\n\r\nbody\r\n');
  assert.equal(received.bytes, bytes, 'joined once');
  assert.equal(received.parts, undefined);
  assert.deepEqual(partsOf(received), [bytes]);
});

test('a message that arrived in one piece is that piece, not a copy; an empty one has no bytes', () => {
  const only = Buffer.from('one chunk\r\n');
  const { sha256, envelope } = message(only);
  assert.equal(new ReceivedMessage([only], sha256, envelope).bytes, only);
  const empty = message(Buffer.alloc(0));
  assert.equal(new ReceivedMessage([], empty.sha256, empty.envelope).bytes.length, 0);
});
