// The collector as a process (bin/catchall-lmtp.js) in front of the real RabbitMQ on 127.0.0.1:5672,
// with a consumer in the test: byte-exact delivery, unroutable → 451, a connection closed by the
// broker → 451 then success on retry with nothing lost, and spool replay after the process is killed.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { startCli, type RunningCollector } from '../helpers/cli.js';
import { LmtpClient, asReceived } from '../helpers/lmtp-client.js';
import { eventually } from '../helpers/wait.js';
import { Admin, RABBITMQ_URL, closeConnectionByName, closedPort, forwardToRabbitmq, uniqueName } from '../sinks/rabbitmq.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Messages that exercise the byte-exactness promise: 8-bit, NUL, bare LF, long lines, random binary. */
function corpus(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const kinds = [
      () => Buffer.from(`Subject: ${i} caf\xe9\r\n\r\nLatin-1 \xe4\xf6\xfc ${i}\r\n`, 'latin1'),
      () => Buffer.concat([Buffer.from(`Subject: nul ${i}\r\n\r\n`), Buffer.from([0, 1, 0, 255]), Buffer.from('\r\n')]),
      () => Buffer.from(`Subject: bare lf ${i}\n\n.line starting with a dot\nend\r\n`),
      () => Buffer.from(`Subject: long ${i}\r\n\r\n${'L'.repeat(5000 + i)}\r\n`),
      () => Buffer.concat([Buffer.from(`Subject: random ${i}\r\n\r\n`), randomBytes(2000).map((b) => (b === 10 || b === 13 ? 32 : b)), Buffer.from('\r\n')]),
      () => Buffer.from(`Subject: utf8 ${i}\r\n\r\nпривет ✓ ${i}\r\n`),
    ];
    return asReceived(kinds[i % kinds.length]!());
  });
}

async function deliver(port: number, body: Buffer, to = ['trap@trap.test']): Promise<number[]> {
  const { client } = await LmtpClient.connect({ port });
  try {
    const res = await client.sendMessage('sender@spam.example', to, body);
    return res.perRecipient.map((r) => r.code);
  } finally {
    await client.quit();
  }
}

describe('collector + RabbitMQ', () => {
  let admin: Admin;
  let dir: string;
  const running: RunningCollector[] = [];

  before(async () => {
    admin = await Admin.open();
    dir = await mkdtemp(path.join(os.tmpdir(), 'collector-amqp-'));
  });
  after(async () => {
    for (const c of running) await c.stop('SIGKILL').catch(() => undefined);
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function collector(args: string[], env: Record<string, string>): Promise<RunningCollector> {
    const c = await startCli(args, env);
    running.push(c);
    return c;
  }

  it('delivers 100 of 100 messages byte-exact (raw) with the sha256 as message id, and json keeps sha256 + msg', async () => {
    const exchange = await admin.exchange(uniqueName('exchange'));
    const consumer = await admin.consumer(exchange);
    const c = await collector(['--format', 'raw'], { AMQP_URL: RABBITMQ_URL, AMQP_EXCHANGE: exchange });
    await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'ready');
    const bodies = corpus(100);
    const { client } = await LmtpClient.connect({ port: c.lmtpPort });
    for (const body of bodies) {
      const res = await client.sendMessage('sender@spam.example', ['a@trap.test', 'b@trap.test'], body);
      assert.deepEqual(res.perRecipient.map((r) => r.code), [250, 250]);
    }
    await client.quit();
    await eventually(() => consumer.messages.length >= 100, '100 messages consumed');
    assert.equal(consumer.messages.length, 100);
    const byId = new Map<string, ConsumeMessage>(consumer.messages.map((m) => [String(m.properties.messageId), m]));
    for (const body of bodies) {
      const m = byId.get(sha256(body));
      assert.ok(m, `message ${sha256(body)} arrived`);
      assert.ok(m.content.equals(body), 'exact bytes');
      assert.equal(sha256(m.content), m.properties.messageId);
      assert.equal(m.properties.deliveryMode, 2, 'persistent');
    }
    assert.equal(await c.stop(), 0);

    // json: the documented {"sha256", "msg"} document; non-UTF-8 bytes as base64
    const json = await collector([], { AMQP_URL: RABBITMQ_URL, AMQP_EXCHANGE: exchange });
    await eventually(async () => (await fetch(`http://127.0.0.1:${json.metricsPort}/readyz`)).status === 200, 'ready');
    const latin1 = bodies[0]!;
    const { client: c2 } = await LmtpClient.connect({ port: json.lmtpPort });
    await c2.command('XFORWARD ADDR=198.51.100.23 NAME=[UNAVAILABLE] HELO=spambot PROTO=ESMTP');
    assert.deepEqual((await c2.sendMessage('s@x.test', ['x@trap.test'], latin1)).perRecipient.map((r) => r.code), [250]);
    await c2.quit();
    await eventually(() => consumer.messages.length === 101, 'json message consumed');
    const doc = JSON.parse(consumer.messages[100]!.content.toString('utf8')) as { sha256: string; msg: string; encoding?: string; envelope: Record<string, unknown> };
    assert.equal(doc.sha256, sha256(latin1));
    assert.equal(doc.encoding, 'base64');
    assert.ok(Buffer.from(doc.msg, 'base64').equals(latin1));
    assert.equal(doc.envelope.client_address, '198.51.100.23');
    assert.deepEqual(doc.envelope.rcpt_to, ['x@trap.test']);
    assert.equal(await json.stop(), 0);
  });

  it('reports the sink, publish latency and bytes in /metrics, and logs one line per message with client, sinks and ms', async () => {
    const exchange = await admin.exchange(uniqueName('metrics'));
    await admin.consumer(exchange);
    const c = await collector([], { AMQP_URL: RABBITMQ_URL, AMQP_EXCHANGE: exchange });
    const metrics = async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'ready');
    assert.match(await metrics(), /^catchall_sink_connected\{sink="amqp:127\.0\.0\.1:5672"\} 1$/m);

    const body = asReceived(Buffer.from('Subject: counted\r\n\r\nfor the metrics\r\n'));
    const { client } = await LmtpClient.connect({ port: c.lmtpPort });
    await client.command('XFORWARD ADDR=198.51.100.44 NAME=[UNAVAILABLE] HELO=counter');
    assert.deepEqual((await client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], body)).perRecipient.map((r) => r.code), [250, 250]);
    await client.quit();

    const text = await metrics();
    assert.match(text, new RegExp(`^catchall_message_bytes_total ${body.length}$`, 'm'));
    assert.match(text, /^catchall_sink_publish_seconds_count\{sink="amqp:127\.0\.0\.1:5672",result="ok"\} 1$/m);
    assert.match(text, /^catchall_sink_publish_seconds_bucket\{le="\+Inf",sink="amqp:127\.0\.0\.1:5672",result="ok"\} 1$/m);
    const line = c.logs().find((l) => l.msg === 'message accepted');
    assert.ok(line, 'one log line per message');
    assert.equal(line.sha256, sha256(body));
    assert.equal(line.size, body.length);
    assert.equal(line.recipients, 2);
    assert.equal(line.client, '198.51.100.44');
    assert.deepEqual(line.sinks, { 'amqp:127.0.0.1:5672': 'ok' });
    assert.ok(typeof line.ms === 'number' && line.ms >= 0, `ms: ${String(line.ms)}`);
    assert.equal(line.outcome, 'accepted');
    assert.equal(await c.stop(), 0);
  });

  it('SIGTERM while a publisher confirm is outstanding: the reply waits for it (250), or is 451 when none comes; exit 0, nothing lost', async () => {
    for (const variant of ['confirm arrives', 'confirm times out'] as const) {
      const exchange = await admin.exchange(uniqueName('drain'));
      const consumer = await admin.consumer(exchange);
      const proxy = await forwardToRabbitmq(0);
      try {
        const c = await collector([], { AMQP_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`, AMQP_EXCHANGE: exchange, AMQP_CONFIRM_TIMEOUT_MS: '1500' });
        await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'ready');
        proxy.holdReplies();
        const body = asReceived(Buffer.from(`Subject: in flight at SIGTERM (${variant})\r\n\r\n${randomBytes(8).toString('hex')}\r\n`));
        const { client } = await LmtpClient.connect({ port: c.lmtpPort });
        const sending = client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], body);
        await eventually(() => consumer.messages.some((m) => m.properties.messageId === sha256(body)), 'published, its confirm held back');
        c.child.kill('SIGTERM');
        await eventually(() => c.logs().some((l) => l.msg === 'stopping: no new connections, finishing messages in progress'), 'draining');
        if (variant === 'confirm arrives') proxy.releaseReplies();
        const replies = (await sending).perRecipient;
        if (variant === 'confirm arrives') {
          assert.deepEqual(replies.map((r) => r.code), [250, 250]);
        } else {
          assert.deepEqual(replies.map((r) => r.code), [451, 451]);
          assert.match(replies[0]!.text, /no publisher confirm within 1500 ms/);
          proxy.releaseReplies(); // lets the connection close cleanly
        }
        await client.quit();
        assert.equal(await c.exited, 0);
        assert.equal(consumer.messages.filter((m) => m.properties.messageId === sha256(body)).length, 1, 'nothing lost');
      } finally {
        await proxy.close();
      }
    }
  });

  it('answers 451 per recipient for an unroutable message', async () => {
    const exchange = await admin.exchange(uniqueName('unroutable'));
    const c = await collector([], { AMQP_URL: RABBITMQ_URL, AMQP_EXCHANGE: exchange });
    await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'ready');
    const { client } = await LmtpClient.connect({ port: c.lmtpPort });
    const res = await client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], Buffer.from('nobody listens\r\n'));
    await client.quit();
    assert.deepEqual(res.perRecipient.map((r) => r.code), [451, 451]);
    assert.match(res.perRecipient[0]!.text, /amqp:127\.0\.0\.1:5672: .*unroutable|NO_ROUTE/i);
    assert.equal(await c.stop(), 0);
  });

  it('answers 451 while the broker connection is closed (rabbitmqctl close_connection), then 250 on retry, losing nothing', async () => {
    const exchange = await admin.exchange(uniqueName('outage'));
    const consumer = await admin.consumer(exchange);
    const c = await collector(['--format', 'raw'], { AMQP_URL: RABBITMQ_URL, AMQP_EXCHANGE: exchange });
    await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'ready');
    // Messages keep coming (each retried like Postfix does after a 4xx) until well after the cut.
    const sent: Buffer[] = [];
    let deferred = 0;
    let cut = false;
    let acceptedAfterCut = 0;
    const sending = (async () => {
      for (let i = 0; !cut || acceptedAfterCut < 10; i++) {
        const body = Buffer.from(`Subject: outage ${i}\r\n\r\n${randomBytes(16).toString('hex')}\r\n`);
        sent.push(body);
        for (let attempt = 0; ; attempt++) {
          const codes = await deliver(c.lmtpPort, body);
          assert.ok(codes.every((code) => code === 250 || (code >= 400 && code < 500)), `message ${i}: ${codes.join()}`);
          if (codes.every((code) => code === 250)) break;
          deferred++;
          assert.ok(attempt < 400, `message ${i} never accepted`);
          await new Promise((r) => setTimeout(r, 25));
        }
        if (cut) acceptedAfterCut++;
      }
    })();
    await eventually(() => consumer.messages.length >= 5, 'a few messages through before the outage');
    await closeConnectionByName(`catchall-lmtp ${os.hostname()} pid ${c.child.pid}`);
    cut = true;
    await sending;
    await eventually(() => new Set(consumer.messages.map((m) => String(m.properties.messageId))).size >= sent.length, 'every accepted message consumed');
    const ids = new Set(consumer.messages.map((m) => String(m.properties.messageId)));
    for (const body of sent) assert.ok(ids.has(sha256(body)), 'none lost');
    assert.ok(deferred > 0, 'messages sent while the connection was down got a 4xx');
    assert.equal(await c.stop(), 0);
  });

  it('spool mode: 250 while the broker is unreachable; after kill -9 and a restart, every message is published exactly once', async () => {
    const exchange = await admin.exchange(uniqueName('spool'));
    const consumer = await admin.consumer(exchange);
    const spool = path.join(dir, 'spool');
    const downPort = await closedPort();
    const first = await collector(['-m', spool, '--format', 'raw'], { AMQP_URL: `amqp://guest:guest@127.0.0.1:${downPort}`, AMQP_EXCHANGE: exchange });
    const bodies = corpus(12);
    for (const body of bodies) assert.deepEqual(await deliver(first.lmtpPort, body, ['a@trap.test', 'b@trap.test']), [250, 250]);
    const ready = await fetch(`http://127.0.0.1:${first.metricsPort}/readyz`);
    assert.equal(ready.status, 200, 'spool mode is ready while the spool is writable, even with the broker down');
    assert.equal(await first.stop('SIGKILL'), null);
    assert.equal((await readdir(path.join(spool, 'new'))).length, 12);

    // the broker "comes back" at the same address
    const broker = await forwardToRabbitmq(downPort);
    try {
      const second = await collector(['-m', spool, '--format', 'raw'], { AMQP_URL: `amqp://guest:guest@127.0.0.1:${downPort}`, AMQP_EXCHANGE: exchange });
      await eventually(async () => (await readdir(path.join(spool, 'cur'))).length === 12, 'all forwarded to cur/');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(consumer.messages.length, 12, 'exactly once');
      assert.deepEqual(new Set(consumer.messages.map((m) => sha256(m.content))), new Set(bodies.map(sha256)));
      assert.equal(await second.stop(), 0);
    } finally {
      await broker.close();
    }
  });
});
