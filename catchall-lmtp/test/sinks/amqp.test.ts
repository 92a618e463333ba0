import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { AmqpSink, type AmqpSinkOptions } from '../../src/sinks/amqp.js';
import { ReceivedMessage, SinkError, type CollectedMessage } from '../../src/sinks/sink.js';
import { message, parseJsonPayload, selfSignedCert, sha256, waitFor } from './helpers.js';
import amqp from 'amqplib';
import { Admin, captureLogs, closeConnectionByName, closedPort, forwardToRabbitmq, RABBITMQ_URL, uniqueName } from './rabbitmq.js';

/** The sink's options as the config schema produces them (all defaults applied). */
function options(overrides: Partial<AmqpSinkOptions>): AmqpSinkOptions {
  const config = configSchema.parse({ sinks: [{ type: 'amqp', reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, confirmTimeoutMs: 5000 }] });
  return { ...(config.sinks[0] as AmqpSinkOptions), ...overrides };
}

/** 100 messages covering what spam looks like: text, 8-bit, NUL, empty, mid-sized, a few large ones. */
function corpus(): CollectedMessage[] {
  return Array.from({ length: 100 }, (_, i) => {
    let bytes: Buffer;
    if (i % 10 === 0) bytes = Buffer.from(`Subject: caf\xe9 ${i}\r\n\r\n\xff\xfe latin-1\r\n`, 'latin1');
    else if (i % 10 === 1) bytes = Buffer.from([0, 1, 2, 0x2e, 0x0a, i]);
    else if (i === 2) bytes = Buffer.alloc(0);
    else if (i % 25 === 3) bytes = Buffer.alloc(3 * 1024 * 1024 + i, `line ${i} ünïcödé\r\n`);
    else if (i % 10 === 7) bytes = Buffer.alloc(4096 * (i % 3) + 2000 + i, `mid-sized ${i} \xe9\r\n`); // one frame each
    else bytes = Buffer.from(`From: x${i}@example.net\r\nSubject: Grüße ${i}\r\n\r\nbody "${i}" \\ \t\r\n.\r\n`);
    const m = message(bytes, { rcptTo: [`trap${i}@example.org`, 'other@example.org'] });
    // As the LMTP server hands them over: in the pieces they arrived in (large ones are preframed from those).
    return i % 2 === 0 ? m : new ReceivedMessage(inPieces(bytes, 65_536 - i), m.sha256, m.envelope);
  });
}

function inPieces(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  return pieces;
}

async function startedSink(opts: AmqpSinkOptions, logger = captureLogs().logger): Promise<AmqpSink> {
  const sink = new AmqpSink(opts, { logger });
  await sink.start();
  return sink;
}

let admin: Admin;
before(async () => {
  admin = await Admin.open();
});
after(async () => {
  await admin.close();
});

describe('AmqpSink against RabbitMQ', { timeout: 60_000 }, () => {
  for (const format of ['json', 'raw'] as const) {
    test(`${format}: 100 of 100 messages arrive byte-exact with their sha256`, async (t) => {
      const exchange = await admin.exchange(uniqueName('ex'));
      const consumer = await admin.consumer(exchange);
      const sink = await startedSink(options({ exchange, format }));
      t.after(() => sink.close());
      await waitFor('the sink to connect', () => sink.isReady());

      const messages = corpus();
      await Promise.all(messages.map((m) => sink.deliver(m)));
      await waitFor('100 messages at the consumer', () => consumer.messages.length >= 100);
      assert.equal(consumer.messages.length, 100);

      const bySha = new Map(messages.map((m) => [m.sha256, m]));
      for (const received of consumer.messages) {
        const { properties } = received;
        const sent = bySha.get(properties.messageId as string);
        assert.ok(sent, `unexpected message_id ${properties.messageId}`);
        bySha.delete(sent.sha256);
        assert.equal(properties.deliveryMode, 2, 'persistent');
        if (format === 'json') {
          assert.equal(properties.contentType, 'application/json');
          const { doc, bytes } = parseJsonPayload(received.content);
          assert.ok(bytes.equals(sent.bytes), `bytes differ for ${sent.sha256}`);
          assert.equal(doc.sha256, sha256(bytes));
          assert.deepEqual(doc.envelope.rcpt_to, sent.envelope.rcptTo);
        } else {
          assert.equal(properties.contentType, 'message/rfc822');
          assert.ok(received.content.equals(sent.bytes), `bytes differ for ${sent.sha256}`);
          assert.equal(sha256(received.content), sent.sha256);
          assert.equal(properties.headers?.['x-sha256'], sent.sha256);
          assert.deepEqual(properties.headers?.['x-rcpt-to'], sent.envelope.rcptTo);
          assert.equal(properties.headers?.['x-client-address'], '203.0.113.5');
        }
      }
      assert.equal(bySha.size, 0, 'every message arrived');
    });
  }

  test('an unroutable message (no queue bound) is not delivered; once a queue is bound it is', async (t) => {
    const exchange = await admin.exchange(uniqueName('ex'));
    const sink = await startedSink(options({ exchange }));
    t.after(() => sink.close());
    await waitFor('the sink to connect', () => sink.isReady());

    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => sink.deliver(message(Buffer.from(`nobody listens ${i}`)))));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof SinkError);
      assert.match(r.reason.message, /unroutable: no queue is bound to exchange '[^']+' for routing key 'spam\.mails'.*NO_ROUTE/);
    }
    const consumer = await admin.consumer(exchange);
    const msg = message(Buffer.from('someone listens'));
    await sink.deliver(msg);
    await waitFor('the message at the consumer', () => consumer.messages.length === 1);
    assert.equal(consumer.messages[0]!.properties.messageId, msg.sha256);
  });

  test('a connection closed by the broker mid-run: affected messages reject, succeed when retried, none lost', async (t) => {
    const exchange = await admin.exchange(uniqueName('ex'));
    const consumer = await admin.consumer(exchange);
    const connectionName = uniqueName('conn');
    const { logger, lines } = captureLogs();
    const sink = await startedSink(options({ exchange, connectionName }), logger);
    t.after(() => sink.close());
    await waitFor('the sink to connect', () => sink.isReady());

    // Messages keep coming, like Postfix with a full queue; each is retried until the sink takes it.
    // The connection is closed after 100 confirms; new messages stop 100 confirms after that.
    let made = 0;
    const retry: CollectedMessage[] = [];
    const confirmed = new Set<string>();
    const failures: string[] = [];
    let closing: Promise<void> | undefined;
    let closedAt: number | undefined;
    const next = () => {
      if (retry.length > 0) return retry.shift();
      if (closedAt !== undefined && confirmed.size >= closedAt + 100) return undefined;
      if (made >= 20_000) throw new Error('the sink never recovered');
      return message(Buffer.from(`message ${made++} ${'x'.repeat(2000)}`));
    };
    const worker = async () => {
      for (let m = next(); m; m = next()) {
        try {
          await sink.deliver(m);
          confirmed.add(m.sha256);
          if (confirmed.size === 100) closing ??= closeConnectionByName(connectionName).then(() => void (closedAt = confirmed.size));
        } catch (err) {
          failures.push((err as Error).message);
          retry.push(m);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await closing;
    while (retry.length > 0) await worker(); // the last retries

    assert.equal(confirmed.size, made, 'every message was eventually confirmed');
    assert.ok(failures.length > 0, 'some deliveries failed while the connection was down');
    for (const f of failures) assert.match(f, /channel closed before the broker confirmed|channel lost|not connected/);
    const received = new Set(consumer.messages.map((m) => m.properties.messageId as string));
    await waitFor('all confirmed messages at the consumer', () => [...confirmed].every((s) => received.has(s)) || undefined, 5000).catch(() => undefined);
    for (const m of consumer.messages) received.add(m.properties.messageId as string);
    assert.deepEqual([...confirmed].filter((s) => !received.has(s)), [], 'a confirmed message was lost');
    assert.ok(lines.some((l) => l.msg === "disconnected from amqp://127.0.0.1:5672 vhost '/'" && l.host === '127.0.0.1'));
    assert.ok(lines.filter((l) => String(l.msg).startsWith('connected to')).length >= 2, 'reconnected');
    assert.ok(!JSON.stringify(lines).includes('guest:guest'), 'no password in the logs');
    t.diagnostic(`messages: ${made}, failed attempts while reconnecting: ${failures.length}, duplicates at the consumer: ${consumer.messages.length - received.size}`);
  });

  test('the exchange deleted mid-run: the next message is refused, the sink reconnects and declares it again', async (t) => {
    const exchange = await admin.exchange(uniqueName('ex'));
    const consumer = await admin.consumer(exchange);
    const { logger, lines } = captureLogs();
    const sink = await startedSink(options({ exchange }), logger);
    t.after(() => sink.close());
    await waitFor('the sink to connect', () => sink.isReady());
    await sink.deliver(message(Buffer.from('before the deletion')));

    await admin.channel.deleteExchange(exchange);
    await assert.rejects(sink.deliver(message(Buffer.from('into the void'))), (err: Error) => {
      assert.ok(err instanceof SinkError);
      assert.match(err.message, /NOT_FOUND - no exchange/);
      return true;
    });
    await waitFor('the sink to be ready again', () => sink.isReady(), 5000);
    // checkExchange closes the channel it runs on when the exchange is missing: use one of its own.
    const conn = await amqp.connect(RABBITMQ_URL);
    t.after(() => conn.close());
    await (await conn.createChannel()).checkExchange(exchange);
    assert.ok(lines.filter((l) => String(l.msg).startsWith('connected to')).length >= 2, 'reconnected');

    // The deletion took the queue's binding with it; bound again, the retried message arrives.
    const rebound = await admin.consumer(exchange);
    const retried = message(Buffer.from('into the void'));
    await sink.deliver(retried);
    await waitFor('the retried message at the consumer', () => rebound.messages.length === 1);
    assert.equal(rebound.messages[0]!.properties.messageId, retried.sha256);
    assert.equal(consumer.messages.length, 1, 'only the message from before the deletion reached the old binding');
  });

  for (const [name, declared, sinkSettings, expected] of [
    ['durable', { type: 'topic', durable: true }, {}, /the broker has exchange '[^']+' declared durable=true; set amqp\.exchangeDurable: true/],
    ['type', { type: 'direct', durable: false }, {}, /the broker has exchange '[^']+' declared type=direct; set amqp\.exchangeType: direct/],
  ] as const) {
    test(`PRECONDITION_FAILED (${name}) names the setting, keeps the sink not ready and is retried`, async (t) => {
      const exchange = await admin.exchange(uniqueName('ex'), declared.type, declared.durable);
      const { logger, lines } = captureLogs();
      const sink = await startedSink(options({ exchange, ...sinkSettings }), logger);
      t.after(() => sink.close());
      await waitFor('the error in the log', () => lines.some((l) => expected.test(String(l.err))));
      assert.equal(sink.isReady(), false);
      await assert.rejects(sink.deliver(message(Buffer.from('x'))), (err: Error) => {
        assert.match(err.message, /^amqp:127\.0\.0\.1:5672: not connected to amqp:\/\/127\.0\.0\.1:5672 vhost '\/': /);
        assert.match(err.message, expected);
        return true;
      });
      // Retried at the slow rate (maxDelayMs, 500 ms here), not given up.
      const attempts = () => lines.filter((l) => String(l.msg).startsWith('cannot use') && expected.test(String(l.err)));
      await waitFor('a second attempt', () => attempts().length >= 2, 5000);
      const [first, second] = attempts() as [{ time: number }, { time: number }];
      assert.ok(second.time - first.time >= 400, `retried after ${second.time - first.time} ms, not at the slow rate`);
    });
  }

  test('a broker unreachable at start-up: deliver rejects clearly, the sink keeps retrying and connects once it listens', async (t) => {
    const port = await closedPort();
    const exchange = await admin.exchange(uniqueName('ex'));
    const consumer = await admin.consumer(exchange);
    const { logger, lines } = captureLogs();
    const sink = await startedSink(options({ exchange, port }), logger);
    t.after(() => sink.close());

    await waitFor('three failed attempts', () => lines.filter((l) => /ECONNREFUSED/.test(String(l.err))).length >= 3);
    assert.equal(sink.isReady(), false);
    await assert.rejects(sink.deliver(message(Buffer.from('too early'))), new RegExp(`not connected to amqp://127\\.0\\.0\\.1:${port} vhost '/': .*ECONNREFUSED`));

    const forwarder = await forwardToRabbitmq(port);
    t.after(() => forwarder.close());
    await waitFor('the sink to connect', () => sink.isReady(), 5000);
    const msg = message(Buffer.from('now it works'));
    await sink.deliver(msg);
    await waitFor('the message at the consumer', () => consumer.messages.length === 1);
    assert.equal(consumer.messages[0]!.properties.messageId, msg.sha256);
  });

  test('TLS: verified against the configured CA; an unknown certificate refused unless verify is off', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'amqp-tls-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const files = await selfSignedCert(dir);
    const proxy = await forwardToRabbitmq(0, files);
    const exchange = await admin.exchange(uniqueName('ex'));
    const consumer = await admin.consumer(exchange);
    const tlsSink = async (tls: AmqpSinkOptions['tls'], logger = captureLogs().logger) => {
      const sink = await startedSink(options({ exchange, port: proxy.port, tls }), logger);
      t.after(() => sink.close());
      return sink;
    };
    t.after(() => proxy.close()); // after the sinks: hooks run in the order they were added

    const verified = await tlsSink({ enabled: true, verify: true, ca: files.cert });
    const unverified = await tlsSink({ enabled: true, verify: false });
    const { logger, lines } = captureLogs();
    const refused = await tlsSink({ enabled: true, verify: true }, logger);

    await waitFor('both TLS sinks to connect', () => verified.isReady() && unverified.isReady());
    await verified.deliver(message(Buffer.from('verified')));
    await unverified.deliver(message(Buffer.from('unverified')));
    await waitFor('both messages at the consumer', () => consumer.messages.length === 2);
    await waitFor('the certificate error', () => lines.some((l) => /self-signed certificate/.test(String(l.err))));
    assert.equal(refused.isReady(), false);
    await assert.rejects(refused.deliver(message(Buffer.from('x'))), new RegExp(`not connected to amqps://127\\.0\\.0\\.1:${proxy.port} vhost '/': .*self-signed certificate`));
  });

  test('configuration the sink cannot use is refused at construction, naming the key', () => {
    const logger = captureLogs().logger;
    assert.throws(() => new AmqpSink(options({ tls: { enabled: true, verify: true, ca: '/nonexistent/ca.pem' } }), { logger }), {
      name: 'ConfigError',
      message: /^amqp\.tls\.ca: cannot read \/nonexistent\/ca\.pem/,
    });
    assert.throws(() => new AmqpSink(options({ url: 'amqp://[bad' }), { logger }), { name: 'ConfigError', message: /^amqp\.url is not a valid URL/ });
  });
});
