import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MemoryAuthStore, type AuthRecord, type AuthStore } from '../../../broker-dev/src/auth/auth-store.js';
import { HpfeedsBroker } from '../../../broker-dev/src/broker/broker.js';
import { configSchema } from '../../src/config/schema.js';
import { encodeInfo, HpfeedsClient, type HpfeedsMessage } from '../../src/hpfeeds/index.js';
import { HpfeedsSink, type HpfeedsSinkOptions } from '../../src/sinks/hpfeeds.js';
import { SinkError, type CollectedMessage } from '../../src/sinks/sink.js';
import { message, parseJsonPayload, selfSignedCert, sha256, waitFor } from './helpers.js';
import { captureLogs } from './rabbitmq.js';

const CHANNELS = ['spam.mails', 'spam.copy'];
const AUTH = [
  { ident: 'collector', owner: 'test', secret: 'collector-secret', pubchans: CHANNELS, subchans: [] },
  { ident: 'reader', owner: 'test', secret: 'reader-secret', pubchans: [], subchans: CHANNELS },
  { ident: 'no-rights', owner: 'test', secret: 'no-rights-secret', pubchans: [], subchans: [] },
  { ident: 'one-channel', owner: 'test', secret: 'one-channel-secret', pubchans: [CHANNELS[0]!], subchans: [] },
];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hpfeeds-sink-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Our broker (broker-dev) on a free port, or on `port`; `tls` serves that certificate. */
async function startBroker(port = 0, tls?: { cert: string; key: string }, auth: AuthStore = new MemoryAuthStore(AUTH)): Promise<{ broker: HpfeedsBroker; port: number }> {
  const broker = new HpfeedsBroker({ auth });
  const endpoint = tls ? `tls:port=${port}:interface=127.0.0.1:cert=${tls.cert}:key=${tls.key}` : `tcp:port=${port}:interface=127.0.0.1`;
  const bound = await broker.listen(endpoint);
  return { broker, port: bound.port };
}

function options(port: number, overrides: Partial<HpfeedsSinkOptions> = {}): HpfeedsSinkOptions {
  const config = configSchema.parse({
    sinks: [{ type: 'hpfeeds', host: '127.0.0.1', port, ident: 'collector', secret: 'collector-secret', channels: CHANNELS, errorGraceMs: 300, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } }],
  });
  return { ...(config.sinks[0] as HpfeedsSinkOptions), ...overrides };
}

/** A subscriber on every channel, collecting what arrives; ready once a probe came through on each. */
async function reader(port: number, probe: HpfeedsSink): Promise<{ received: HpfeedsMessage[]; close(): Promise<void> }> {
  const client = new HpfeedsClient({ host: '127.0.0.1', port, ident: 'reader', secret: 'reader-secret', reconnect: false });
  const received: HpfeedsMessage[] = [];
  client.on('message', (m: HpfeedsMessage) => received.push(m));
  await client.connect();
  for (const c of CHANNELS) client.subscribe(c);
  // hpfeeds does not acknowledge SUBSCRIBE: publish probes until one arrives on every channel.
  const p = message(Buffer.from('probe'));
  await waitFor('the subscription to take effect', async () => {
    await probe.deliver(p);
    await new Promise((r) => setTimeout(r, 20));
    return CHANNELS.every((c) => received.some((m) => m.channel === c));
  });
  received.length = 0;
  return { received, close: () => client.close() };
}

async function readySink(opts: HpfeedsSinkOptions, logger = captureLogs().logger): Promise<HpfeedsSink> {
  const sink = new HpfeedsSink(opts, { logger });
  await sink.start();
  await waitFor('the sink to connect', () => sink.isReady(), 5000);
  return sink;
}

function corpus(): CollectedMessage[] {
  return Array.from({ length: 100 }, (_, i) => {
    if (i % 10 === 0) return message(Buffer.from(`Subject: caf\xe9 ${i}\r\n\r\n\xff latin-1\r\n`, 'latin1'));
    if (i % 10 === 1) return message(Buffer.from([0, 0x0a, 0x2e, 0x0d, i]));
    if (i === 2) return message(Buffer.alloc(0));
    if (i === 3) return message(Buffer.alloc(700 * 1024, 'big ünïcödé line\r\n'));
    return message(Buffer.from(`Subject: Grüße ${i}\r\n\r\nbody "${i}"\r\n`));
  });
}

describe('HpfeedsSink against our hpfeeds broker', { timeout: 30_000 }, () => {
  for (const format of ['json', 'raw'] as const) {
    test(`${format}: 100 of 100 messages arrive byte-exact on every channel`, async (t) => {
      const { broker, port } = await startBroker();
      t.after(() => broker.close());
      const sink = await readySink(options(port, { format }));
      t.after(() => sink.close());
      const sub = await reader(port, sink);
      t.after(() => sub.close());

      const messages = corpus();
      await Promise.all(messages.map((m) => sink.deliver(m)));
      await waitFor('200 messages at the reader', () => sub.received.length >= 200);
      assert.equal(sub.received.length, 200);
      for (const channel of CHANNELS) {
        const got = sub.received.filter((m) => m.channel === channel);
        assert.equal(got.length, 100, channel);
        // One connection, one channel: the broker keeps the publish order.
        for (const [i, m] of got.entries()) {
          assert.equal(m.ident, 'collector');
          const bytes = format === 'json' ? parseJsonPayload(m.payload).bytes : m.payload;
          assert.ok(bytes.equals(messages[i]!.bytes), `message ${i} differs on ${channel}`);
          assert.equal(sha256(bytes), messages[i]!.sha256);
          if (format === 'json') assert.equal(parseJsonPayload(m.payload).doc.sha256, messages[i]!.sha256);
        }
      }
    });
  }

  test('a payload over maxFrameSize is refused with its size and the limit, and nothing is published', async (t) => {
    const { broker, port } = await startBroker();
    t.after(() => broker.close());
    const sink = await readySink(options(port));
    t.after(() => sink.close());
    const sub = await reader(port, sink);
    t.after(() => sub.close());

    // 900 KiB of Latin-1 fits as raw bytes but not as base64 in a json payload (1.2 MB).
    const latin1 = message(Buffer.alloc(900 * 1024, 'caf\xe9\r\n', 'latin1'));
    await assert.rejects(sink.deliver(latin1), (err: Error) => {
      assert.ok(err instanceof SinkError);
      assert.match(err.message, /message too large for the broker: a json payload of \d+ bytes makes a PUBLISH frame of \d+ bytes on channel 'spam\.mails', over hpfeeds\.maxFrameSize 1048581 bytes/);
      return true;
    });
    // The connection is still fine for the next message.
    const small = message(Buffer.from('small'));
    await sink.deliver(small);
    await waitFor('the small message on both channels', () => sub.received.length >= 2);
    assert.deepEqual(sub.received.map((m) => parseJsonPayload(m.payload).doc.sha256), [small.sha256, small.sha256]);
  });

  /**
   * Delivers a message every few milliseconds for `ms`, recording what the sink said and whether it
   * claimed to be ready after the broker's first ERROR.
   */
  async function deliverThroughout(sink: HpfeedsSink, lines: Array<Record<string, unknown>>, ms: number) {
    const outcomes: Array<Promise<string>> = [];
    let readyAfterError = false;
    const deadline = Date.now() + ms;
    for (let i = 0; Date.now() < deadline; i++) {
      if (sink.isReady() && lines.some((l) => String(l.msg).startsWith('hpfeeds broker ERROR'))) readyAfterError = true;
      outcomes.push(sink.deliver(message(Buffer.from(`message ${i}`))).then(() => 'delivered', (err: Error) => err.message));
      await new Promise((r) => setTimeout(r, 5));
    }
    const results = await Promise.all(outcomes);
    return { results, delivered: results.filter((r) => r === 'delivered').length, readyAfterError, errors: lines.filter((l) => String(l.msg).startsWith('hpfeeds broker ERROR')) };
  }

  for (const [what, ident, text] of [
    ['an ident without publish rights', 'no-rights', /Authkey not allowed to pub here\. ident=no-rights, chan=spam\.mails/],
    ['an ident denied one of the two channels', 'one-channel', /Authkey not allowed to pub here\. ident=one-channel, chan=spam\.copy/],
  ] as const) {
    test(`${what}: no message is confirmed, neither right after connecting nor after each reconnect`, async (t) => {
      const { broker, port } = await startBroker();
      t.after(() => broker.close());
      const { logger, lines } = captureLogs();
      const sink = await readySink(options(port, { ident, secret: `${ident}-secret` }), logger);
      t.after(() => sink.close());
      const { results, delivered, errors } = await deliverThroughout(sink, lines, 1500);
      assert.equal(delivered, 0, 'a delivery the broker refused was confirmed');
      assert.ok(errors.length >= 2, `the sink reconnected and was refused again (ERRORs: ${errors.length})`);
      assert.match(String(errors[0]!.msg), text);
      // The broker's text reaches the caller (and so the 451): with the refused publish, or as the reason
      // the sink is not publishing on the next connection yet.
      assert.ok(results.some((r) => /broker sent ERROR before the publish was accepted: Authkey not allowed/.test(r)), results.join('\n'));
      assert.ok(results.some((r) => /last connection ended with ERROR "Authkey not allowed/.test(r)), 'refused while on probation');
    });
  }

  test("a wrong secret: the broker's ERROR is logged, nothing confirmed on the first connection, never ready again while refused", async (t) => {
    const { broker, port } = await startBroker();
    t.after(() => broker.close());
    const { logger, lines } = captureLogs();
    const sink = new HpfeedsSink(options(port, { secret: 'wrong' }), { logger });
    t.after(() => sink.close());
    await sink.start();
    // The first connection counts as ready from AUTH until the ERROR comes back: publish in that window.
    const deadline = Date.now() + 5000;
    while (!sink.isReady()) {
      assert.ok(Date.now() < deadline, 'the sink never connected');
      await new Promise((r) => setImmediate(r));
    }
    const first = Array.from({ length: 10 }, (_, i) => sink.deliver(message(Buffer.from(`first ${i}`))).then(() => 'delivered', (err: Error) => err.message));
    const { results, delivered, errors, readyAfterError } = await deliverThroughout(sink, lines, 1500);
    assert.deepEqual((await Promise.all(first)).filter((r) => !/broker sent ERROR before the publish was accepted: Authentication failed for collector/.test(r)), []);
    assert.equal(delivered, 0);
    assert.ok(lines.some((l) => l.msg === 'hpfeeds broker ERROR: Authentication failed for collector' && l.level === 50));
    assert.ok(errors.length >= 2, `the sink kept trying (ERRORs: ${errors.length})`);
    await assert.rejects(sink.deliver(message(Buffer.from('x'))), (err: Error) => err instanceof SinkError && /^hpfeeds:127\.0\.0\.1:\d+: .*Authentication failed for collector/.test(err.message));
    assert.equal(readyAfterError, false, 'a connection after the ERROR counted as ready within the grace period');
    assert.ok(results.some((r) => /Authentication failed for collector/.test(r)), results.join('\n'));
  });

  test('once the broker grants the channel, the sink recovers after the grace period and delivers', async (t) => {
    const records = new Map<string, AuthRecord>(AUTH.map((r) => [r.ident, r]));
    const auth: AuthStore = { lookup: async (ident) => records.get(ident), size: () => records.size, close: () => undefined };
    const { broker, port } = await startBroker(0, undefined, auth);
    t.after(() => broker.close());
    const { logger, lines } = captureLogs();
    const sink = await readySink(options(port, { ident: 'no-rights', secret: 'no-rights-secret' }), logger);
    t.after(() => sink.close());
    await assert.rejects(sink.deliver(message(Buffer.from('refused'))), /Authkey not allowed to pub here/);
    records.set('no-rights', { ...records.get('no-rights')!, pubchans: CHANNELS });
    await waitFor('the sink to be ready again', () => sink.isReady(), 5000);
    const sub = await reader(port, sink);
    t.after(() => sub.close());
    const msg = message(Buffer.from('after the grant'));
    await sink.deliver(msg);
    await waitFor('the message on both channels', () => sub.received.length >= 2);
    assert.deepEqual(sub.received.map((m) => parseJsonPayload(m.payload).doc.sha256), [msg.sha256, msg.sha256]);
    assert.ok(lines.some((l) => l.msg === 'hpfeeds broker ERROR: Authkey not allowed to pub here. ident=no-rights, chan=spam.mails'));
  });

  test('a broker restart: deliveries fail while it is gone, then succeed after the reconnect', async (t) => {
    const first = await startBroker();
    const sink = await readySink(options(first.port));
    t.after(() => sink.close());
    await first.broker.close();
    await waitFor('the sink to notice', () => !sink.isReady());
    await assert.rejects(sink.deliver(message(Buffer.from('while down'))), /not connected to hpfeeds broker/);

    const second = await startBroker(first.port);
    t.after(() => second.broker.close());
    await waitFor('the sink to reconnect', () => sink.isReady(), 5000);
    const sub = await reader(second.port, sink);
    t.after(() => sub.close());
    const msg = message(Buffer.from('after the restart'));
    await sink.deliver(msg);
    await waitFor('the message at the reader', () => sub.received.length >= 2);
    assert.equal(parseJsonPayload(sub.received[0]!.payload).doc.sha256, msg.sha256);
  });

  test('a broker that stops reading: deliveries are refused after publishTimeoutMs instead of hanging', async (t) => {
    // Our broker always reads; a peer that sends INFO and then never reads is the only way to get here.
    const peers: net.Socket[] = [];
    const stalled = net.createServer((socket) => {
      peers.push(socket);
      socket.write(encodeInfo('stalled', Buffer.alloc(4, 1)));
      socket.pause();
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const p of peers) p.destroy(); // paused, they would never see the client's close
      return new Promise((resolve) => stalled.close(resolve));
    });
    const sink = await readySink(options((stalled.address() as net.AddressInfo).port, { format: 'raw', publishTimeoutMs: 300 }));
    t.after(() => sink.close());

    // Enough to fill the socket buffers on both sides of the loopback connection.
    const results = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => sink.deliver(message(Buffer.alloc(1024 * 1024 - 100, i)))));
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length > 0, 'some deliveries must wait for a write that never completes');
    for (const r of refused) assert.match(String(r.reason), /PUBLISH not written within 300 ms/);
  });

  test('configuration the sink cannot use is refused at construction, naming the key', () => {
    const logger = captureLogs().logger;
    assert.throws(() => new HpfeedsSink(options(1, { tls: { enabled: true, verify: true, ca: '/nonexistent/ca.pem' } }), { logger }), {
      name: 'ConfigError',
      message: /^hpfeeds\.tls\.ca: cannot read \/nonexistent\/ca\.pem/,
    });
    assert.throws(() => new HpfeedsSink(options(1, { ident: 'x'.repeat(256) }), { logger }), { name: 'ConfigError', message: /ident is 256 bytes/ });
  });

  describe('TLS', () => {
    let cert: string;
    let key: string;
    before(async () => {
      ({ cert, key } = await selfSignedCert(dir));
    });

    test('verified against the configured CA', async (t) => {
      const { broker, port } = await startBroker(0, { cert, key });
      t.after(() => broker.close());
      const sink = await readySink(options(port, { tls: { enabled: true, verify: true, ca: cert } }));
      t.after(() => sink.close());
      await sink.deliver(message(Buffer.from('over TLS')));
    });

    test('an unknown certificate is refused when verifying, accepted with verify: false', async (t) => {
      const { broker, port } = await startBroker(0, { cert, key });
      t.after(() => broker.close());
      const { logger, lines } = captureLogs();
      const strict = new HpfeedsSink(options(port, { tls: { enabled: true, verify: true } }), { logger });
      t.after(() => strict.close());
      await strict.start();
      await waitFor('the certificate error in the log', () => lines.some((l) => /self-signed certificate/.test(JSON.stringify(l))));
      assert.equal(strict.isReady(), false);
      await assert.rejects(strict.deliver(message(Buffer.from('x'))), /self-signed certificate/);

      const lax = await readySink(options(port, { tls: { enabled: true, verify: false } }));
      t.after(() => lax.close());
      await lax.deliver(message(Buffer.from('unverified TLS')));
    });
  });
});
