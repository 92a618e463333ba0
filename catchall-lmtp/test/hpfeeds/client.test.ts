// The client at the protocol level, against a real socket served by ScriptedBroker (our codec on the
// other end), so each case can control exactly what the broker sends and when.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import {
  encodeError,
  encodeInfo,
  encodePublish,
  HpfeedsBrokerError,
  HpfeedsClient,
  HpfeedsClientError,
  HpfeedsProtocolError,
  type HpfeedsClientErrorCode,
  type HpfeedsClientOptions,
  type HpfeedsMessage,
} from '../../src/hpfeeds/index.js';
import { eventually, NONCE, ScriptedBroker, within } from './scripted-broker.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// AUTH for nonce a1b2c3d4, ident "writer", secret "secret" (spec vector).
const AUTH_VECTOR = hex('00 00 00 20 02 06 77 72 69 74 65 72 0c d9 20 30 16 88 55 d8 71 07 39 97 b4 59 d1 12 2f 0a e2 0b');

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(opts?: Parameters<typeof ScriptedBroker.start>[0]): Promise<ScriptedBroker> {
  const b = await ScriptedBroker.start(opts);
  cleanups.push(() => b.close());
  return b;
}

function client(port: number, extra: Partial<HpfeedsClientOptions> = {}): HpfeedsClient {
  const c = new HpfeedsClient({ host: '127.0.0.1', port, ident: 'writer', secret: 'secret', reconnect: false, closeTimeoutMs: 1000, ...extra });
  cleanups.push(() => c.close());
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: HpfeedsClientErrorCode, message?: RegExp): Promise<HpfeedsClientError> {
  let caught: unknown;
  await within(5000, `a ${code} rejection`, p.then(() => assert.fail(`expected ${code}, but it resolved`), (e: unknown) => (caught = e)));
  assert.ok(caught instanceof HpfeedsClientError, `expected HpfeedsClientError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** The most bytes the kernel can buffer on one TCP connection: the sender's plus the receiver's maximum. */
async function maxKernelBuffering(): Promise<number> {
  const max = async (name: string) => Number((await fs.readFile(`/proc/sys/net/ipv4/${name}`, 'utf8')).trim().split(/\s+/)[2]);
  return (await max('tcp_wmem')) + (await max('tcp_rmem'));
}

// events.once() would reject on an 'error' event, and count as an error listener; this does neither.
const disconnectedEvent = (c: HpfeedsClient) => new Promise<[Error]>((resolve) => c.once('disconnected', (reason: Error) => resolve([reason])));

/** Publishes large payloads one after another until one stays unconfirmed for 300 ms (bounded). */
async function publishUntilStalled(c: HpfeedsClient, payload: Buffer): Promise<{ confirmed: number; stalled: Promise<void> }> {
  for (let confirmed = 0; confirmed < 500; confirmed++) {
    const p = c.publish('spam.mails', payload);
    const outcome = await Promise.race([p.then(() => 'written'), new Promise((r) => setTimeout(r, 300, 'stalled'))]);
    if (outcome === 'stalled') {
      p.catch(() => {}); // the test decides what happens to it next
      return { confirmed, stalled: p };
    }
  }
  throw new Error('publish never waited although the broker stopped reading');
}

// Every test is bounded, so a regression fails instead of hanging the suite.
const T = { timeout: 15_000 };

describe('hpfeeds client', () => {
  test('answers INFO with exactly the spec AUTH bytes, then pipelines the subscriptions', T, async () => {
    const b = await broker();
    const c = client(b.port);
    const connected = once(c, 'connected');
    c.subscribe('spam.mails');
    assert.equal(c.connected, false);
    await c.connect();
    await within(2000, "'connected'", connected);
    assert.equal(c.connected, true);
    const side = await b.connection(0);
    await side.waitFrames(2);
    assert.deepEqual(side.raw.subarray(0, AUTH_VECTOR.length), AUTH_VECTOR);
    assert.deepEqual(side.frames[1], { op: 'subscribe', ident: 'writer', channel: 'spam.mails' });
  });

  test('publish resolves after the frame is written, with the exact PUBLISH bytes', T, async () => {
    const b = await broker();
    const c = client(b.port, { ident: 'ident' });
    await c.connect();
    await c.publish('chan', 'somedata');
    await c.publish('chan', Buffer.from([0, 255]));
    const side = await b.connection(0);
    await side.waitFrames(3);
    const publishVector = hex('00 00 00 18 03 05 69 64 65 6e 74 04 63 68 61 6e 73 6f 6d 65 64 61 74 61');
    const authLength = side.raw.readUInt32BE(0);
    assert.deepEqual(side.raw.subarray(authLength, authLength + publishVector.length), publishVector);
    assert.deepEqual(side.frames[2], { op: 'publish', ident: 'ident', channel: 'chan', payload: Buffer.from([0, 255]) });
  });

  test('publish resolves only once the frame is written: one larger than the socket buffers waits for the broker to read', T, async () => {
    const b = await broker();
    const c = client(b.port, { maxFrameSize: 256 * 1024 * 1024 });
    await c.connect();
    const side = await b.connection(0);
    await side.waitFrames(1);
    side.socket.pause();
    // Larger than the most the kernel can hold for this connection (send plus receive buffer maxima).
    const payload = Buffer.alloc((await maxKernelBuffering()) + 4 * 1024 * 1024, 0x42);
    let written = false;
    const publish = c.publish('spam.mails', payload).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(written, false, 'resolved although the broker had not read the frame');
    side.socket.resume();
    await within(10_000, 'the publish to complete once the broker reads', publish);
    const frames = await side.waitFrames(2, 10_000);
    assert.ok(frames[1]?.op === 'publish' && frames[1].payload.equals(payload));
  });

  test('publish rejects, never drops: before connect, over maxFrameSize, after the connection is lost, after close', T, async () => {
    const b = await broker();
    const c = client(b.port, { maxFrameSize: 1000 });
    await rejectsWith(c.publish('spam.mails', 'x'), 'NOT_CONNECTED', /not connected to hpfeeds broker 127\.0\.0\.1:\d+/);
    await c.connect();
    // 5 + 1 + 6 ("writer") + 1 + 10 ("spam.mails") + 978 = 1001 bytes
    await rejectsWith(c.publish('spam.mails', Buffer.alloc(978)), 'FRAME_TOO_LARGE', /PUBLISH frame of 1001 bytes \(payload 978 bytes\) exceeds maxFrameSize of 1000 bytes/);
    await c.publish('spam.mails', Buffer.alloc(977)); // exactly the limit
    await rejectsWith(c.publish('x'.repeat(256), ''), 'INVALID_ARGUMENT', /256 bytes/);

    const disconnected = disconnectedEvent(c);
    (await b.connection(0)).socket.destroy();
    const [reason] = await within(2000, "'disconnected'", disconnected);
    assert.ok(reason instanceof Error);
    assert.equal(c.connected, false);
    await rejectsWith(c.publish('spam.mails', 'x'), 'NOT_CONNECTED', /\(last error: .+\)/);
    await c.close();
    await rejectsWith(c.publish('spam.mails', 'x'), 'CLOSED');
    await rejectsWith(c.connect(), 'CLOSED');
  });

  test('a larger maxFrameSize lets larger frames through in both directions', T, async () => {
    const b = await broker();
    const c = client(b.port, { maxFrameSize: 3 * 1024 * 1024 });
    const messages = c.subscribe('big');
    await c.connect();
    const payload = Buffer.alloc(2 * 1024 * 1024, 7);
    await c.publish('big', payload);
    const side = await b.connection(0);
    const frames = await side.waitFrames(3);
    assert.ok(frames[2]?.op === 'publish' && frames[2].payload.equals(payload));
    side.send(encodePublish('other', 'big', payload));
    const { value } = await within(3000, 'a 2 MiB message', messages.next());
    assert.ok(value?.payload.equals(payload));
  });

  test('messages arrive through the iterator and the event; unsubscribe sends UNSUBSCRIBE and ends the iterator', T, async () => {
    const b = await broker();
    const c = client(b.port);
    await c.connect();
    const mails = c.subscribe('spam.mails');
    const events: HpfeedsMessage[] = [];
    c.on('message', (m: HpfeedsMessage) => events.push(m));
    const side = await b.connection(0);
    assert.deepEqual(await side.next(), { op: 'auth', ident: 'writer', hash: (await side.frames[0]! as { hash: Buffer }).hash });
    assert.deepEqual(await side.next(), { op: 'subscribe', ident: 'writer', channel: 'spam.mails' });
    side.send(Buffer.concat([
      encodePublish('collector', 'spam.mails', 'one'),
      encodePublish('collector', 'other', 'not for the iterator'),
      encodePublish('collector', 'spam.mails', 'two'),
    ]));
    const first = await within(2000, 'message one', mails.next());
    const second = await within(2000, 'message two', mails.next());
    assert.deepEqual(first.value, { ident: 'collector', channel: 'spam.mails', payload: Buffer.from('one') });
    assert.equal(second.value?.payload.toString(), 'two');
    await eventually('3 message events', () => events.length === 3);
    assert.deepEqual(events.map((m) => m.channel), ['spam.mails', 'other', 'spam.mails']);

    c.unsubscribe('spam.mails');
    assert.deepEqual(await side.next(), { op: 'unsubscribe', ident: 'writer', channel: 'spam.mails' });
    assert.deepEqual(await within(1000, 'the iterator to end', mails.next()), { value: undefined, done: true });
  });

  test('a broker ERROR is surfaced with its text, drops the connection and is named in later rejections', T, async () => {
    const b = await broker();
    const c = client(b.port);
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect(); // there is no AUTH success reply: AUTH written counts as connected
    const disconnected = disconnectedEvent(c);
    (await b.connection(0)).send(encodeError('Authentication failed for writer'));
    const [reason] = await within(2000, "'disconnected'", disconnected);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof HpfeedsBrokerError);
    assert.equal(errors[0].text, 'Authentication failed for writer');
    assert.equal(reason, errors[0]);
    assert.equal(c.connected, false);
    await rejectsWith(c.publish('spam.mails', 'x'), 'NOT_CONNECTED', /Authentication failed for writer/);
  });

  test('an ERROR without an error listener is logged, not thrown', T, async () => {
    const b = await broker();
    const c = client(b.port);
    await c.connect();
    const disconnected = disconnectedEvent(c);
    (await b.connection(0)).send(encodeError('Invalid ident'));
    await within(2000, "'disconnected'", disconnected);
  });

  test('ERROR instead of INFO fails connect() with the text', T, async () => {
    const b = await broker({ info: false });
    const c = client(b.port);
    const attempt = c.connect();
    (await b.connection(0)).send(encodeError('too many connections'));
    const err = await rejectsWith(attempt, 'CONNECT_FAILED', /too many connections/);
    assert.ok(err.cause instanceof HpfeedsBrokerError);
  });

  test('backpressure: with a broker that stops reading, publish waits for drain; nothing is lost when it reads again', T, async () => {
    const b = await broker();
    const c = client(b.port);
    await c.connect();
    const side = await b.connection(0);
    await side.waitFrames(1);
    side.socket.pause();
    const payload = Buffer.alloc(1000 * 1024, 0xab);
    const { confirmed, stalled } = await publishUntilStalled(c, payload);
    // What was confirmed fits in the kernel's socket buffers plus one frame, not an unbounded queue.
    assert.ok(confirmed * payload.length < 64 * 1024 * 1024, `${confirmed} MiB confirmed while the broker read nothing`);
    side.socket.resume();
    await within(5000, 'the stalled publish to complete once the broker reads', stalled);
    const frames = await side.waitFrames(1 + confirmed + 1, 10_000);
    assert.equal(frames.length, confirmed + 2);
    assert.ok(frames.slice(1).every((f) => f.op === 'publish' && f.payload.equals(payload)));
  });

  test('an ERROR that arrives while publishes wait for their write rejects them with its text', T, async () => {
    const b = await broker();
    const c = client(b.port);
    c.on('error', () => {});
    await c.connect();
    const side = await b.connection(0);
    await side.waitFrames(1);
    side.socket.pause();
    const { stalled } = await publishUntilStalled(c, Buffer.alloc(1000 * 1024));
    const queued = rejectsWith(c.publish('spam.mails', 'behind the stalled one'), 'BROKER_ERROR', /Authkey not allowed/);
    side.send(encodeError('Authkey not allowed to pub here. ident=writer, chan=spam.mails'));
    await rejectsWith(stalled, 'BROKER_ERROR', /Authkey not allowed to pub here\. ident=writer, chan=spam\.mails/);
    await queued;
  });

  /** 'resolved', 'rejected' or 'pending' right now, without waiting. */
  const stateOf = async (p: Promise<unknown>) => {
    const probe = Symbol('pending');
    const r = await Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise((res) => setImmediate(res, probe))]);
    return r === probe ? 'pending' : r;
  };

  test('errorGraceMs: a publish unlike any the broker took waits out the grace period; an ERROR in it rejects it and all written after it', T, async () => {
    const b = await broker();
    const c = client(b.port, { errorGraceMs: 1500 });
    c.on('error', () => {});
    await c.connect();
    const side = await b.connection(0);
    // The first publish on a channel: written, but confirmed only once the broker had time to refuse it.
    const first = c.publish('spam.mails', 'first');
    await side.waitFrames(2);
    assert.equal(await stateOf(first), 'pending');
    await within(5000, 'the first publish to be confirmed', first);
    // Taken: the same size on the same channel now resolves once written, and so does a slightly longer
    // one in the same size class (frames of 28 and 32 bytes: both up to 2^5).
    await within(5000, 'a publish like one already taken', c.publish('spam.mails', 'again'));
    const sameClass = c.publish('spam.mails', 'again!!!!');
    await side.waitFrames(4);
    assert.equal(await stateOf(sameClass), 'resolved');
    // A larger size class (a 63-byte frame) waits out the grace period again.
    const larger = c.publish('spam.mails', 'x'.repeat(40));
    await side.waitFrames(5);
    assert.equal(await stateOf(larger), 'pending');
    await within(5000, 'a publish of a larger size class to be confirmed', larger);
    // A new channel waits, and so does a publish like one already taken that is written after it.
    const other = rejectsWith(c.publish('other', 'x'), 'BROKER_ERROR', /broker sent ERROR before the publish was accepted: Authkey not allowed to pub here/);
    const behind = rejectsWith(c.publish('spam.mails', 'again'), 'BROKER_ERROR', /Authkey not allowed/);
    const bigger = rejectsWith(c.publish('spam.mails', 'a bigger one'), 'BROKER_ERROR', /Authkey not allowed/);
    await side.waitFrames(8);
    side.send(encodeError('Authkey not allowed to pub here. ident=writer, chan=other'));
    await Promise.all([other, behind, bigger]);
  });

  test('errorGraceMs: after a session ended by ERROR the next one is not connected until it outlived the grace period', T, async () => {
    const b = await broker();
    const c = client(b.port, { errorGraceMs: 1500, reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
    c.on('error', () => {});
    await c.connect();
    (await b.connection(0)).send(encodeError('Authentication failed for writer'));
    const second = await b.connection(1);
    await second.waitFrames(1);
    assert.equal(c.connected, false);
    await rejectsWith(c.publish('spam.mails', 'x'), 'NOT_CONNECTED', /last connection ended with ERROR "Authentication failed for writer"; waiting 1500 ms/);
    await within(5000, "'connected'", once(c, 'connected'));
    assert.equal(c.connected, true);
    await within(5000, 'a publish on the proven connection', c.publish('spam.mails', 'after the grace period'));
    const frames = await second.waitFrames(2);
    assert.ok(frames[1]?.op === 'publish' && frames[1].payload.toString() === 'after the grace period');
  });

  test('close() before the INFO came: a late INFO is not answered on the half-closed socket', T, async () => {
    const b = await broker({ info: false });
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const c = client(b.port, { logger, closeTimeoutMs: 1000 });
    const connecting = c.connect().catch((err: Error) => err);
    const side = await b.connection(0);
    const closing = c.close();
    side.send(encodeInfo('hpfeeds', NONCE));
    await within(3000, 'close()', closing);
    assert.ok((await connecting) instanceof HpfeedsClientError);
    assert.deepEqual(side.frames, []); // no AUTH
    assert.equal(lines.filter((l) => /write after end|"level":(40|50)/.test(l)).join(''), '');
  });

  test('close() and a destroyed socket reject every pending publish', T, async () => {
    const b = await broker();
    const payload = Buffer.alloc(1000 * 1024);
    const a = client(b.port, { closeTimeoutMs: 200 });
    await a.connect();
    const sideA = await b.connection(0);
    await sideA.waitFrames(1);
    sideA.socket.pause();
    const { stalled: stalledA } = await publishUntilStalled(a, payload);
    const queuedA = rejectsWith(a.publish('spam.mails', 'queued'), 'CLOSED');
    await within(3000, 'close()', a.close());
    await rejectsWith(stalledA, 'CLOSED');
    await queuedA;

    const d = client(b.port);
    await d.connect();
    const sideD = await b.connection(1);
    await sideD.waitFrames(1);
    sideD.socket.pause();
    const { stalled: stalledD } = await publishUntilStalled(d, payload);
    const queuedD = [1, 2, 3].map((i) => rejectsWith(d.publish('spam.mails', `queued ${i}`), 'CONNECTION_LOST', /lost before the frame was written/));
    sideD.socket.destroy();
    // The stalled frame is partly in the kernel: the reset can race its last write, so it may complete.
    await within(3000, 'the stalled publish to settle', stalledD.catch((e: HpfeedsClientError) => assert.equal(e.code, 'CONNECTION_LOST')));
    await Promise.all(queuedD);
  });

  test('close() flushes accepted publishes, waits for the broker to close, and still surfaces its ERROR', T, async () => {
    const b = await broker();
    const c = client(b.port);
    const errors: HpfeedsBrokerError[] = [];
    c.on('error', (e: HpfeedsBrokerError) => errors.push(e));
    await c.connect();
    const side = await b.connection(0);
    // Like the reference broker: on a denied PUBLISH answer ERROR and close; on EOF close.
    side.socket.on('end', () => {
      const denied = side.frames.find((f) => f.op === 'publish' && f.channel === 'denied');
      if (denied) side.socket.end(encodeError('Authkey not allowed to pub here. ident=writer, chan=denied'));
      else side.socket.end();
    });
    const published = [c.publish('ok', 'a'), c.publish('ok', 'b'), c.publish('denied', 'c')];
    await within(3000, 'close()', c.close());
    await Promise.all(published);
    assert.deepEqual(side.frames.slice(1).map((f) => f.op === 'publish' && f.payload.toString()), ['a', 'b', 'c']);
    assert.deepEqual(errors.map((e) => e.text), ['Authkey not allowed to pub here. ident=writer, chan=denied']);
    assert.equal(c.connected, false);
  });

  test('reconnects after the broker drops it, with a new AUTH and the subscriptions re-sent', T, async () => {
    const b = await broker();
    const c = client(b.port, { reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    c.subscribe('spam.mails');
    c.subscribe('other');
    await c.connect();
    const first = await b.connection(0);
    await first.waitFrames(3);
    const events: string[] = [];
    c.on('disconnected', () => events.push('disconnected'));
    c.on('connected', () => events.push('connected'));
    first.socket.destroy();
    const second = await b.connection(1);
    const frames = await second.waitFrames(3);
    assert.deepEqual(frames.map((f) => f.op), ['auth', 'subscribe', 'subscribe']);
    assert.deepEqual(new Set(frames.slice(1).map((f) => f.op === 'subscribe' && f.channel)), new Set(['spam.mails', 'other']));
    await eventually('connected again', () => c.connected);
    assert.deepEqual(events, ['disconnected', 'connected']);
    await c.publish('spam.mails', 'after reconnect');
    const [, , , publish] = await second.waitFrames(4);
    assert.ok(publish?.op === 'publish' && publish.payload.toString() === 'after reconnect');
  });

  test('reconnect attempts back off instead of spinning, and stop on close()', T, async () => {
    // A server that accepts and drops every connection before INFO.
    const sockets: number[] = [];
    const server = net.createServer((s) => {
      sockets.push(Date.now());
      s.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as net.AddressInfo).port;
    const c = client(port, { reconnect: { initialDelayMs: 20, maxDelayMs: 160 } });
    await rejectsWith(c.connect(), 'CONNECT_FAILED');
    await new Promise((r) => setTimeout(r, 1000));
    // Expected caps 20, 40, 80, 160, 160, … with a uniform delay under each: about 10 attempts a second.
    // Without backoff it would be hundreds; with a fixed 160 ms at most 7.
    assert.ok(sockets.length >= 3 && sockets.length <= 40, `${sockets.length} attempts in 1 s`);
    await c.close();
    const after = sockets.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sockets.length, after, 'no attempts after close()');
  });

  test('with reconnect: false a dropped connection stays down', T, async () => {
    const b = await broker();
    const c = client(b.port);
    await c.connect();
    (await b.connection(0)).socket.destroy();
    await eventually('disconnected', () => !c.connected);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(b.connections.length, 1);
  });

  test('connect() fails clearly: nothing listening, and a server that never sends INFO', T, async () => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const freePort = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await rejectsWith(client(freePort).connect(), 'CONNECT_FAILED', new RegExp(`127\\.0\\.0\\.1:${freePort}: connect ECONNREFUSED`));

    const silent = await broker({ info: false });
    await rejectsWith(client(silent.port, { connectTimeoutMs: 200 }).connect(), 'CONNECT_FAILED', /no INFO from the broker within 200 ms/);
  });

  test('malformed frames from the broker end the connection with the protocol error', T, async () => {
    const b = await broker();
    const c = client(b.port);
    await c.connect();
    const disconnected = disconnectedEvent(c);
    (await b.connection(0)).send(Buffer.from([0, 0, 0, 2, 3]));
    const [reason] = await within(2000, "'disconnected'", disconnected);
    assert.ok(reason instanceof HpfeedsProtocolError);
    assert.equal(reason.code, 'LENGTH_TOO_SMALL');
  });

  test('an iterator nobody reads is ended with SUBSCRIPTION_OVERFLOW; events keep flowing', T, async () => {
    const b = await broker();
    const c = client(b.port, { subscriptionBufferBytes: 1000 });
    await c.connect();
    const ignored = c.subscribe('spam.mails');
    let events = 0;
    c.on('message', () => events++);
    const side = await b.connection(0);
    await side.waitFrames(2);
    for (let i = 0; i < 5; i++) side.send(encodePublish('p', 'spam.mails', Buffer.alloc(400)));
    await eventually('5 message events', () => events === 5);
    // Two messages (800 bytes) fit; the third would exceed 1000 bytes.
    assert.equal((await ignored.next()).value?.payload.length, 400);
    assert.equal((await ignored.next()).value?.payload.length, 400);
    await rejectsWith(ignored.next(), 'SUBSCRIPTION_OVERFLOW', /channel "spam\.mails" fell more than 1000 bytes behind/);
    assert.deepEqual(await ignored.next(), { value: undefined, done: true });
  });
});
