// The broker at the protocol level: handshake, auth, ACLs with the reference's exact ERROR texts,
// ordering of pipelined frames, UNSUBSCRIBE, re-AUTH, frame limits and malformed input, over a TCP and
// a TLS endpoint. Raw sockets with the library codec send exactly the bytes each case needs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  authHash,
  DEFAULT_MAX_FRAME,
  encodeAuth,
  encodePublish,
  encodeSubscribe,
  encodeUnsubscribe,
} from 'catchall-lmtp/hpfeeds';
import { MemoryAuthStore } from '../src/auth/auth-store.js';
import { eventually, IDENTS, SECRETS, startBroker, TRANSPORT_KINDS, transport, type TestBroker, type Transport } from './helpers.js';

function header(length: number, op: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(length, 0);
  b[4] = op;
  return b;
}

for (const kind of TRANSPORT_KINDS) describe(`hpfeeds broker protocol over ${kind}`, () => {
  let via: Transport;
  let tb: TestBroker;
  before(async () => {
    via = await transport(kind);
    tb = await startBroker({ name: 'test-broker' }, via);
  });
  after(() => tb.close());

  test('INFO carries the broker name and a random 4-byte nonce', async () => {
    const [a, b] = await Promise.all([tb.peer(), tb.peer()]);
    const [ia, ib] = [await a.next(), await b.next()];
    assert.equal(ia.op, 'info');
    assert.equal(ib.op, 'info');
    if (ia.op !== 'info' || ib.op !== 'info') return;
    assert.equal(ia.name, 'test-broker');
    assert.equal(ia.nonce.length, 4);
    assert.notDeepEqual(ia.nonce, ib.nonce);
    a.destroy();
    b.destroy();
  });

  test('AUTH + SUBSCRIBE + PUBLISH pipelined in one write are handled in order', async () => {
    const peer = await tb.peer();
    const info = await peer.next();
    assert.equal(info.op, 'info');
    if (info.op !== 'info') return;
    peer.write(Buffer.concat([
      encodeAuth('both', authHash(info.nonce, SECRETS.both!)),
      encodeSubscribe('both', 'spam.mails'),
      encodePublish('both', 'spam.mails', Buffer.from('first')),
      encodePublish('both', 'spam.mails', Buffer.from('second')),
    ]));
    const got = [await peer.next(), await peer.next()];
    assert.deepEqual(got.map((f) => f.op === 'publish' && [f.ident, f.channel, f.payload.toString()]), [
      ['both', 'spam.mails', 'first'],
      ['both', 'spam.mails', 'second'],
    ]);
    peer.destroy();
  });

  test('frames arriving while a slow auth lookup runs are buffered, not lost or reordered', async () => {
    const slow = new MemoryAuthStore(IDENTS);
    const lookup = slow.lookup.bind(slow);
    slow.lookup = async (ident) => {
      await new Promise((r) => setTimeout(r, 150));
      return lookup(ident);
    };
    const b = await startBroker({ auth: slow }, via);
    try {
      const peer = await b.peer();
      const info = await peer.next();
      if (info.op !== 'info') throw new Error('no INFO');
      peer.write(encodeAuth('both', authHash(info.nonce, SECRETS.both!)));
      // sent while the lookup is still in flight
      peer.write(Buffer.concat([encodeSubscribe('both', 'other'), encodePublish('both', 'other', Buffer.from('x'))]));
      const f = await peer.next();
      assert.ok(f.op === 'publish' && f.payload.toString() === 'x');
      peer.destroy();
    } finally {
      await b.close();
    }
  });

  test('wrong secret and unknown ident: "Authentication failed for {ident}", then close', async () => {
    const wrong = await tb.authed('writer', 'not-the-secret');
    await wrong.expectErrorAndClose('Authentication failed for writer');
    const unknown = await tb.authed('nobody', 'x');
    await unknown.expectErrorAndClose('Authentication failed for nobody');
  });

  test('first frame not AUTH: "First message was not AUTH"', async () => {
    const peer = await tb.peer();
    await peer.next();
    peer.write(encodeSubscribe('reader', 'spam.mails'));
    await peer.expectErrorAndClose('First message was not AUTH');
  });

  test('publish and subscribe ACLs, and a publish under another ident, with the reference texts', async () => {
    const pub = await tb.authed('writer');
    pub.write(encodePublish('writer', 'not-allowed', Buffer.from('x')));
    await pub.expectErrorAndClose('Authkey not allowed to pub here. ident=writer, chan=not-allowed');

    const sub = await tb.authed('writer');
    sub.write(encodeSubscribe('writer', 'spam.mails'));
    await sub.expectErrorAndClose('Authkey not allowed to sub here. ident=writer, chan=spam.mails');

    const spoof = await tb.authed('writer');
    spoof.write(encodePublish('reader', 'spam.mails', Buffer.from('x')));
    await spoof.expectErrorAndClose('Invalid authkey in message, ident=reader');
  });

  test('UNSUBSCRIBE stops delivery on that channel only', async () => {
    const peer = await tb.authed('both');
    peer.write(Buffer.concat([
      encodeSubscribe('both', 'spam.mails'),
      encodeSubscribe('both', 'other'),
      encodeUnsubscribe('both', 'spam.mails'),
      encodePublish('both', 'spam.mails', Buffer.from('dropped: unsubscribed')),
      encodePublish('both', 'other', Buffer.from('delivered')),
    ]));
    const f = await peer.next();
    assert.ok(f.op === 'publish' && f.channel === 'other' && f.payload.toString() === 'delivered', JSON.stringify(f));
    peer.destroy();
  });

  test('re-AUTH switches the identity on the same connection', async () => {
    const peer = await tb.peer();
    const info = await peer.next();
    if (info.op !== 'info') throw new Error('no INFO');
    peer.write(Buffer.concat([
      encodeAuth('reader', authHash(info.nonce, SECRETS.reader!)),
      encodeSubscribe('reader', 'other'),
      encodeAuth('both', authHash(info.nonce, SECRETS.both!)),
      encodePublish('both', 'other', Buffer.from('as both')),
    ]));
    const f = await peer.next();
    assert.ok(f.op === 'publish' && f.ident === 'both' && f.payload.toString() === 'as both', JSON.stringify(f));
    peer.write(encodePublish('reader', 'other', Buffer.from('old ident')));
    await peer.expectErrorAndClose('Invalid authkey in message, ident=reader');

    const bad = await tb.authed('reader');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(bad.frames.length, 0, 'a successful AUTH has no reply');
    bad.write(encodeAuth('both', Buffer.alloc(20)));
    await bad.expectErrorAndClose('Authentication failed for both');
  });

  test('a PUBLISH of exactly the frame limit is delivered byte for byte; one byte more is refused', async () => {
    const sub = await tb.authed('reader');
    sub.write(encodeSubscribe('reader', 'spam.mails'));
    const pub = await tb.authed('writer');
    const room = DEFAULT_MAX_FRAME - 5 - 1 - 'writer'.length - 1 - 'spam.mails'.length;
    const payload = Buffer.alloc(room);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const frame = encodePublish('writer', 'spam.mails', payload);
    assert.equal(frame.length, DEFAULT_MAX_FRAME);
    await eventually('the SUBSCRIBE to land before the publish', async () =>
      (await tb.broker.metrics.subscriptions.get()).values.some((v) => v.labels.ident === 'reader' && v.labels.chan === 'spam.mails' && v.value === 1));
    pub.write(frame);
    const got = await sub.next(5000);
    assert.ok(got.op === 'publish' && got.payload.equals(payload), 'largest frame not delivered intact');

    // One byte over: refused from the header alone, before the body is buffered.
    const over = Buffer.concat([header(DEFAULT_MAX_FRAME + 1, 3), Buffer.from([6]), Buffer.from('writer')]);
    pub.write(over);
    await pub.expectErrorAndClose(/^Malformed frame: .+/);

    // The subscriber was not affected.
    const pub2 = await tb.authed('writer');
    pub2.write(encodePublish('writer', 'spam.mails', Buffer.from('still here')));
    const after = await sub.next();
    assert.ok(after.op === 'publish' && after.payload.toString() === 'still here');
    for (const p of [sub, pub2]) p.destroy();
  });

  test('malformed input gets ERROR with a clear text and a close, before and after AUTH', async () => {
    const cases: [string, Buffer][] = [
      ['length below 5', header(3, 3)],
      ['length zero', header(0, 0)],
      ['unknown opcode', Buffer.concat([header(6, 99), Buffer.from([0])])],
      ['string8 overrunning the body', Buffer.concat([header(5 + 3, 4), Buffer.from([200, 0x61, 0x62])])],
      ['invalid UTF-8 channel', Buffer.concat([header(5 + 1 + 6 + 2, 4), Buffer.from([6]), Buffer.from('reader'), Buffer.from([0xc3, 0x28])])],
      ['oversized AUTH', Buffer.concat([header(5000, 2), Buffer.alloc(10)])],
    ];
    for (const authed of [false, true]) {
      for (const [name, bytes] of cases) {
        const peer = authed ? await tb.authed('reader') : await tb.peer();
        if (!authed) await peer.next();
        peer.write(bytes);
        await assert.doesNotReject(peer.expectErrorAndClose(/^Malformed frame: .{5,}/), `${name} (${authed ? 'after' : 'before'} AUTH)`);
      }
    }
    // The broker still serves a well-behaved client.
    const ok = await tb.authed('both');
    ok.write(Buffer.concat([encodeSubscribe('both', 'other'), encodePublish('both', 'other', Buffer.from('fine'))]));
    const f = await ok.next();
    assert.ok(f.op === 'publish' && f.payload.toString() === 'fine');
    ok.destroy();
  });

  test('connections over --max-connections get an ERROR and are closed', async () => {
    const b = await startBroker({ maxConnections: 2 }, via);
    try {
      const held = [await b.peer(), await b.peer()];
      for (const p of held) await p.next();
      const third = await b.peer();
      await third.expectErrorAndClose('Too many connections (limit 2)');
      held[0]!.destroy();
      await eventually('the broker to notice the closed connection', () => b.broker.connectionCount === 1);
      const again = await b.authed('reader'); // a slot is free again
      again.write(encodeSubscribe('reader', 'other'));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(again.frames.length, 0);
      assert.equal(b.broker.connectionCount, 2);
      for (const p of [...held, again]) p.destroy();
    } finally {
      await b.close();
    }
  });
});
