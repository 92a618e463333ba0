// The broker with the real library client, over a TCP and a TLS endpoint: fan-out, ACL denials, a slow
// consumer, garbage connections, auth-file reload, restart + resubscribe; then certificate verification
// and the metrics exporter.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, before, describe, test } from 'node:test';
import { encodePublish, encodeSubscribe, HpfeedsBrokerError, type HpfeedsClient } from 'catchall-lmtp/hpfeeds';
import { JsonFileAuthStore } from '../src/auth/json-file.js';
import { MetricsExporter } from '../src/broker/exporter.js';
import { ClientPool, subscribed } from './client-helpers.js';
import {
  eventually,
  startBroker,
  subscriptionsReach,
  TCP,
  TRANSPORT_KINDS,
  transport,
  within,
  type TestBroker,
  type Transport,
} from './helpers.js';

/** Library clients and brokers for one suite, closed after each test. */
function fixtures() {
  const pool = new ClientPool();
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    await pool.closeAll();
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const broker = async (opts: Parameters<typeof startBroker>[0] = {}, via: Transport = TCP, port = 0): Promise<TestBroker> => {
    const b = await startBroker(opts, via, port);
    cleanups.push(() => b.close());
    return b;
  };
  return { pool, cleanups, broker };
}

// Every TLS handshake costs CPU, so the TLS run uses fewer garbage connections.
const GARBAGE_CONNECTIONS = { tcp: 1000, tls: 200 } as const;

for (const kind of TRANSPORT_KINDS) describe(`hpfeeds broker with real clients over ${kind}`, () => {
  const { pool, cleanups, broker: start } = fixtures();
  let via: Transport;
  before(async () => (via = await transport(kind)));
  const broker = (opts: Parameters<typeof startBroker>[0] = {}, port?: number) => start(opts, via, port);

  test('fan-out: 20 subscribers each get every message, in order, with the publisher ident', async () => {
    const b = await broker();
    const subs = await Promise.all(Array.from({ length: 20 }, () => subscribed(pool.make(b, 'reader'), 'spam.mails')));
    await subscriptionsReach(b.broker, 20);
    const pub = pool.make(b, 'writer');
    await pub.connect();
    const sent = Array.from({ length: 50 }, (_, i) => Buffer.from(`message ${i}`));
    for (const m of sent) await pub.publish('spam.mails', m);
    for (const s of subs) {
      await s.waitFor(50);
      assert.deepEqual(s.messages.map((m) => m.payload.toString()), sent.map(String));
      assert.ok(s.messages.every((m) => m.ident === 'writer' && m.channel === 'spam.mails'));
    }
  });

  test('pub and sub ACL denials reach a library client as HpfeedsBrokerError with the broker text', async () => {
    const b = await broker();
    // Connects, does what the ACL forbids, and returns what the client surfaces; the broker then closes.
    const denial = async (client: HpfeedsClient, forbidden: (c: HpfeedsClient) => Promise<unknown> | void) => {
      await client.connect();
      const error = once(client, 'error');
      const disconnected = new Promise((resolve) => client.once('disconnected', resolve)); // once() would reject on 'error'
      await forbidden(client);
      const [err] = (await within(5000, 'the ERROR to reach the client', error)) as unknown[];
      await within(5000, 'the client to be disconnected', disconnected);
      assert.ok(err instanceof HpfeedsBrokerError, `error event carried ${String(err)}`);
      return err;
    };
    const sub = await denial(pool.make(b, 'writer'), (c) => void c.subscribe('spam.mails'));
    assert.equal(sub.text, 'Authkey not allowed to sub here. ident=writer, chan=spam.mails');
    assert.equal(sub.message, 'hpfeeds broker error: Authkey not allowed to sub here. ident=writer, chan=spam.mails');
    // The publish itself may resolve first (it was written); the denial arrives as the ERROR.
    const pub = await denial(pool.make(b, 'reader'), (c) => c.publish('spam.mails', 'x').catch(() => {}));
    assert.equal(pub.text, 'Authkey not allowed to pub here. ident=reader, chan=spam.mails');
  });

  test('a slow consumer is disconnected with "Backpressure deadline timer expired"; the others keep flowing', async () => {
    const b = await broker({ sendBufferLimit: 256 * 1024, backpressureDeadlineMs: 300 });
    const slow = await b.authed('reader');
    slow.write(encodeSubscribe('reader', 'spam.mails'));
    slow.socket.pause(); // never reads: the kernel buffers fill, then the broker's send buffer
    const fast = await Promise.all([0, 1, 2].map(() => subscribed(pool.make(b, 'reader'), 'spam.mails')));
    await subscriptionsReach(b.broker, 4);
    const pub = pool.make(b, 'writer');
    await pub.connect();
    const metric = async (name: string) => b.broker.registry.getSingleMetricAsString(name);
    // Publish until the slow consumer's queue passes the limit and it is put on the deadline (bounded),
    // then stop: nothing more is queued for it, yet it is disconnected once the deadline expires.
    let sent = 0;
    const chunk = randomBytes(64 * 1024);
    while (!(await metric('hpfeeds_broker_connection_send_buffer_deadline_start_total')).includes('ident="reader"} 1')) {
      assert.ok(sent < 3200, 'slow consumer never put on the deadline');
      await pub.publish('spam.mails', chunk);
      sent++;
      // Lock-step with the broker, so the queue grows one frame at a time and never jumps past the hard bound.
      await eventually('the broker to take the publish', async () => (await b.broker.metrics.receivePublishCount.get()).values[0]?.value === sent);
    }
    await eventually('the deadline to expire', async () => (await metric('hpfeeds_broker_connection_error_total')).includes('category="deadline-timer-expired"} 1'));
    for (let i = 0; i < 10; i++, sent++) await pub.publish('spam.mails', chunk);
    for (const f of fast) {
      await f.waitFor(sent, 15_000);
      assert.equal(f.messages.length, sent);
    }
    // The slow consumer, once it reads again, finds the ERROR after what was already queued.
    slow.socket.resume();
    await within(10_000, 'the slow consumer socket to close', slow.closed);
    const last = slow.frames.at(-1);
    assert.ok(last?.op === 'error' && last.text === 'Backpressure deadline timer expired', `last frame: ${JSON.stringify(last?.op)}`);
    assert.ok(slow.frames.length - 1 < sent, 'the slow consumer cannot have received everything');
  });

  test('a subscriber that catches up before the deadline recovers; one that floods past twice the limit is cut at once', async () => {
    const b = await broker({ sendBufferLimit: 128 * 1024, backpressureDeadlineMs: 60_000 });
    const counter = async (name: string) => (await b.broker.registry.getSingleMetricAsString(name)).match(/ident="reader"\} (\d+)/)?.[1];
    const lagging = await b.authed('reader');
    lagging.write(encodeSubscribe('reader', 'spam.mails'));
    lagging.socket.pause();
    await subscriptionsReach(b.broker, 1);
    const pub = pool.make(b, 'writer');
    await pub.connect();
    const chunk = randomBytes(32 * 1024);
    let sent = 0;
    // Lock-step until it is on the deadline, then let it read: the deadline is cancelled.
    while ((await counter('hpfeeds_broker_connection_send_buffer_deadline_start_total')) !== '1') {
      assert.ok(sent < 3200, 'never put on the deadline');
      await pub.publish('spam.mails', chunk);
      sent++;
      await eventually('the broker to take the publish', async () => (await b.broker.metrics.receivePublishCount.get()).values[0]?.value === sent);
    }
    lagging.socket.resume();
    await eventually('recovery', async () => (await counter('hpfeeds_broker_connection_send_buffer_deadline_recover_total')) === '1');
    await eventually('everything delivered', () => lagging.frames.length === sent);
    assert.equal(lagging.frames.every((f) => f.op === 'publish'), true);

    // Now stop reading and flood: the queue hits twice the limit long before the 60 s deadline.
    lagging.socket.pause();
    await within(10_000, 'the flooded subscriber to be cut', (async () => {
      while (!(await b.broker.registry.getSingleMetricAsString('hpfeeds_broker_connection_error_total')).includes('category="deadline-timer-expired"} 1')) {
        for (let i = 0; i < 16; i++) await pub.publish('spam.mails', chunk);
      }
    })());
    lagging.socket.resume();
    await within(10_000, 'the connection to close', lagging.closed);
    const last = lagging.frames.at(-1);
    assert.ok(last?.op === 'error' && last.text === 'Backpressure deadline timer expired');
  });

  const garbageCount = GARBAGE_CONNECTIONS[kind];
  const fewer = kind === 'tcp' ? '' : ' (fewer than over TCP, for run time; some not TLS at all)';
  test(`${garbageCount.toLocaleString('en')} garbage connections${fewer} leave the broker serving a well-behaved client`, async () => {
    const b = await broker();
    // random bytes; a plausible header with a random length and opcode; a header alone; nothing;
    // and on a TLS endpoint, random bytes instead of a TLS handshake.
    const kinds = via.kind === 'tls' ? 5 : 4;
    let next = 0;
    const garbage = async () => {
      const kind = next++ % kinds;
      const socket = await (kind === 4 ? TCP : via).connect(b.port);
      const closed = once(socket, 'close');
      const body =
        kind === 0 || kind === 4 ? randomBytes(randomInt(1, 300))
        : kind === 1 ? Buffer.concat([Buffer.from([0, 0, randomInt(0, 256), randomInt(0, 256), randomInt(0, 8)]), randomBytes(randomInt(0, 100))])
        : kind === 2 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 3])
        : Buffer.alloc(0);
      socket.resume();
      socket.end(body);
      setTimeout(() => socket.destroy(), 3000).unref();
      await closed;
    };
    const workers = Array.from({ length: 50 }, async () => {
      while (next < garbageCount) await garbage();
    });
    await within(20_000, `${garbageCount} garbage connections`, Promise.all(workers));
    await eventually('all garbage connections closed', () => b.broker.connectionCount === 0);

    const got = await subscribed(pool.make(b, 'reader'), 'other');
    const pub = pool.make(b, 'writer');
    await pub.connect();
    await subscriptionsReach(b.broker, 1);
    await pub.publish('other', 'after the storm');
    await got.waitFor(1);
    assert.equal(got.messages[0]!.payload.toString(), 'after the storm');
  });

  test('the auth file is reloaded: a new ident can log in without a restart', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hpfeeds-reload-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'auth.json');
    const entry = { owner: 'o', secret: 'first', pubchans: ['c'], subchans: ['c'] };
    await fs.writeFile(file, JSON.stringify({ alice: entry }));
    const store = new JsonFileAuthStore(file, { pollIntervalMs: 100 });
    cleanups.push(() => store.close());
    const b = await broker({ auth: store });

    const bob = await b.authed('bob', 'bobs-secret');
    await bob.expectErrorAndClose('Authentication failed for bob');

    const reloaded = new Promise((resolve) => store.once('reloaded', resolve));
    await fs.writeFile(file, JSON.stringify({ alice: entry, bob: { ...entry, secret: 'bobs-secret' } }));
    await within(5000, 'auth file reload', reloaded);

    const client = pool.make(b, 'bob', { secret: 'bobs-secret' });
    const got = await subscribed(client, 'c');
    await subscriptionsReach(b.broker, 1);
    await client.publish('c', 'hello from bob');
    await got.waitFor(1);
    assert.equal(got.messages[0]!.ident, 'bob');
  });

  test('clients reconnect and resubscribe after the broker restarts on the same port', async () => {
    const first = await startBroker({}, via);
    const port = first.port;
    const reconnect = { initialDelayMs: 50, maxDelayMs: 200 };
    const sub = pool.make(first, 'reader', { reconnect });
    const got = await subscribed(sub, 'spam.mails');
    const pub = pool.make(first, 'writer', { reconnect });
    await pub.connect();

    const disconnected = new Promise((resolve) => sub.once('disconnected', resolve));
    await first.close();
    await within(5000, 'the subscriber to notice the restart', disconnected);
    const second = await broker({}, port);
    assert.equal(second.port, port);

    // Publish until the resubscribed client sees a message (the publisher reconnects too).
    await eventually('a message after the restart', async () => {
      if (pub.connected) await pub.publish('spam.mails', 'after restart').catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
      return got.messages.some((m) => m.payload.toString() === 'after restart');
    }, 10_000);
  });
});

describe('hpfeeds broker: certificate verification and the metrics exporter', () => {
  const { pool, cleanups, broker } = fixtures();
  const exporterFor = async (b: TestBroker): Promise<string> => {
    const exporter = new MetricsExporter({ registry: b.broker.registry, healthy: () => b.broker.listening });
    cleanups.push(() => exporter.close());
    const { port } = await exporter.listen('127.0.0.1', 0);
    return `http://127.0.0.1:${port}`;
  };

  test('TLS: a client verifying against the CA works; one without it is refused; --tls-insecure style works', async () => {
    const b = await broker({}, await transport('tls'));
    const roundTrip = async (sub: HpfeedsClient, pub: HpfeedsClient, text: string) => {
      const got = await subscribed(sub, 'other');
      await pub.connect();
      await subscriptionsReach(b.broker, 1);
      await pub.publish('other', text);
      await got.waitFor(1);
      assert.equal(got.messages[0]!.payload.toString(), text);
      await Promise.all([sub.close(), pub.close()]);
      await subscriptionsReach(b.broker, 0);
    };
    await roundTrip(pool.make(b, 'reader'), pool.make(b, 'writer'), 'verified'); // against the test certificate
    await roundTrip(pool.make(b, 'reader', { tls: { rejectUnauthorized: false } }), pool.make(b, 'writer', { tls: { rejectUnauthorized: false } }), 'unverified');
    await assert.rejects(pool.make(b, 'reader', { tls: true }).connect(), /self[- ]signed|certificate/i);
  });

  test('the exporter serves the reference metric names on /metrics, and /healthz', async () => {
    const b = await broker();
    const exporter = await exporterFor(b);

    const got = await subscribed(pool.make(b, 'reader'), 'spam.mails');
    const pub = pool.make(b, 'writer');
    await pub.connect();
    await subscriptionsReach(b.broker, 1);
    await pub.publish('spam.mails', Buffer.alloc(3000));
    await got.waitFor(1);
    await (await b.authed('writer', 'wrong')).expectErrorAndClose('Authentication failed for writer');

    const res = await fetch(`${exporter}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const line of [
      'hpfeeds_broker_client_connections 2',
      'hpfeeds_broker_connection_made_total 3',
      'hpfeeds_broker_connection_ready_total{ident="reader"} 1',
      'hpfeeds_broker_connection_error_total{ident="writer",category="invalid-secret"} 1',
      'hpfeeds_broker_connection_lost_total{ident=""} 1',
      'hpfeeds_broker_subscriptions{ident="reader",chan="spam.mails"} 1',
      'hpfeeds_broker_receive_publish_count_total{ident="writer",chan="spam.mails"} 1',
      'hpfeeds_broker_receive_publish_size_bucket{le="4096",ident="writer",chan="spam.mails"} 1',
      'hpfeeds_broker_connection_send_buffer_size{ident="reader"} 0',
      'hpfeeds_broker_connection_receive_buffer_size{ident="writer"} 0',
    ]) {
      assert.ok(text.includes(line), `missing "${line}" in:\n${text}`);
    }
    for (const name of ['receive_buffer_fill_total', 'send_buffer_fill_total', 'send_buffer_drain_total']) {
      assert.match(text, new RegExp(`^hpfeeds_broker_connection_${name}\\{ident="\\w*"\\} [1-9]\\d*$`, 'm'));
    }
    const health = await fetch(`${exporter}/healthz`);
    assert.equal(health.status, 200);
    await b.close();
    assert.equal((await fetch(`${exporter}/healthz`)).status, 503);
  });

  test('ACL failures are counted under the ident in the frame, as in the reference', async () => {
    const b = await broker();
    const exporter = await exporterFor(b);
    const spoof = await b.authed('writer');
    spoof.write(encodePublish('reader', 'spam.mails', Buffer.from('x')));
    await spoof.expectErrorAndClose('Invalid authkey in message, ident=reader');
    const sub = await b.authed('writer');
    sub.write(encodeSubscribe('claimed', 'spam.mails')); // the text still names the authenticated ident
    await sub.expectErrorAndClose('Authkey not allowed to sub here. ident=writer, chan=spam.mails');
    const pub = await b.authed('writer');
    pub.write(encodePublish('writer', 'not-allowed', Buffer.from('x')));
    await pub.expectErrorAndClose('Authkey not allowed to pub here. ident=writer, chan=not-allowed');

    const errors = (await (await fetch(`${exporter}/metrics`)).text()).split('\n').filter((l) => l.startsWith('hpfeeds_broker_connection_error_total{'));
    assert.deepEqual(errors.sort(), [
      'hpfeeds_broker_connection_error_total{ident="claimed",category="no-sub-permission"} 1',
      'hpfeeds_broker_connection_error_total{ident="reader",category="ident-mismatch-pub"} 1',
      'hpfeeds_broker_connection_error_total{ident="writer",category="no-pub-permission"} 1',
    ]);
  });
});
