// Spool mode: 250 once the message is durable in new/, forwarding in the background, replay of new/
// after a restart and on reconnect, never two publishes of one message, retention of cur/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { Metrics } from '../src/ops/metrics.js';
import { createSpoolDelivery, type SpoolDelivery } from '../src/spool/spool-delivery.js';
import { LmtpClient, asReceived } from './helpers/lmtp-client.js';
import { eventually } from './helpers/wait.js';
import { quietLogger, startServer } from './helpers/server.js';
import { RecordingSink } from './helpers/sinks.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const options = { retentionDays: 0, retentionCount: 0, replayIntervalMs: 60_000, forwardConcurrency: 8 };

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function spoolServer(dir: string, sinks: RecordingSink[], opts: Partial<typeof options> = {}) {
  const metrics = new Metrics();
  const delivery = await createSpoolDelivery({ dir, sinks, metrics, logger: quietLogger, options: { ...options, ...opts } });
  const t = await startServer({ delivery, metrics });
  return { ...t, delivery: delivery as SpoolDelivery };
}

async function send(port: number, to: string[], body: Buffer) {
  const { client } = await LmtpClient.connect({ port });
  const res = await client.sendMessage('sender@x.test', to, body);
  await client.quit();
  return res;
}

describe('spool mode', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'catchall-spool-'));
    dirs.push(dir);
  });

  it('answers 250 once the message is in new/, before any sink has it, then forwards and archives it in cur/', async () => {
    const sink = new RecordingSink();
    sink.hold();
    const t = await spoolServer(dir, [sink]);
    try {
      const body = Buffer.from('Subject: spooled\r\n\r\n8-bit \xe9\x00 bytes\r\n', 'latin1');
      const res = await send(t.port, ['a@trap.test', 'b@trap.test'], body);
      assert.deepEqual(res.perRecipient.map((r) => r.code), [250, 250]);
      assert.equal(sink.messages.length, 0, 'no sink has confirmed yet');
      const inNew = await readdir(path.join(dir, 'new'));
      assert.equal(inNew.length, 1);
      assert.ok((await readFile(path.join(dir, 'new', inNew[0]!))).equals(asReceived(body)), 'exact bytes in new/');
      assert.equal(t.delivery.forwarder.depth, 1);

      sink.release();
      await eventually(async () => (await readdir(path.join(dir, 'cur'))).length === 1, 'moved to cur/');
      assert.deepEqual(await readdir(path.join(dir, 'new')), []);
      assert.equal(sink.messages.length, 1);
      assert.equal(sink.messages[0]!.sha256, sha256(asReceived(body)));
      assert.deepEqual(sink.messages[0]!.envelope.rcptTo, ['a@trap.test', 'b@trap.test']);
      assert.equal(t.delivery.forwarder.depth, 0);
    } finally {
      await t.stop();
    }
  });

  it('keeps messages in new/ while a sink fails, and forwards them when it reconnects', async () => {
    const sink = new RecordingSink('amqp:flaky');
    sink.ready = false;
    sink.failWith = 'not connected';
    const t = await spoolServer(dir, [sink]);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await send(t.port, ['r@trap.test'], Buffer.from(`msg ${i}\r\n`))).perRecipient[0]?.code, 250);
      assert.equal((await readdir(path.join(dir, 'new'))).length, 3);
      const depth = async () => (await t.metrics.registry.getSingleMetric('catchall_spool_depth')!.get()).values[0]?.value;
      assert.equal(await depth(), 3);
      sink.failWith = undefined;
      sink.ready = true;
      await eventually(() => sink.messages.length === 3, 'forwarded after reconnect');
      await eventually(async () => (await readdir(path.join(dir, 'new'))).length === 0, 'new/ empty');
      await eventually(async () => (await depth()) === 0, 'spool depth back to 0 once the moves are durable');
      assert.equal(new Set(sink.messages.map((m) => m.sha256)).size, 3, 'each message once');
    } finally {
      await t.stop();
    }
  });

  it('replays new/ after a restart, with the envelope, exactly once', async () => {
    const down = new RecordingSink();
    down.ready = false;
    const first = await spoolServer(dir, [down]);
    const { client } = await LmtpClient.connect({ port: first.port });
    await client.command('XFORWARD ADDR=203.0.113.9 NAME=spam.bot HELO=bot PROTO=SMTP');
    const bodies = [0, 1, 2, 3].map((i) => Buffer.from(`Subject: replay ${i}\r\n\r\nbody ${i}\r\n`));
    for (const b of bodies) assert.equal((await client.sendMessage('s@x.test', ['x@trap.test', 'y@trap.test'], b)).perRecipient.length, 2);
    await client.quit();
    await first.stop(); // as if the process died: nothing was forwarded
    assert.equal(down.messages.length, 0);
    assert.equal((await readdir(path.join(dir, 'new'))).length, 4);

    const up = new RecordingSink();
    const second = await spoolServer(dir, [up]);
    try {
      await eventually(() => up.messages.length === 4, 'replayed at start-up');
      await second.delivery.forwarder.replay('test: a second scan must not publish again');
      await eventually(async () => (await readdir(path.join(dir, 'cur'))).length === 4, 'all in cur/');
      assert.equal(up.messages.length, 4);
      assert.deepEqual(new Set(up.messages.map((m) => m.sha256)), new Set(bodies.map((b) => sha256(b))));
      const env = up.messages[0]!.envelope;
      assert.deepEqual(env.rcptTo, ['x@trap.test', 'y@trap.test']);
      assert.equal(env.clientAddress, '203.0.113.9');
      assert.equal(env.clientName, 'spam.bot');
    } finally {
      await second.stop();
    }
  });

  it('never hands a message in flight to the sinks a second time, however often new/ is re-scanned', async () => {
    const sink = new RecordingSink();
    sink.hold();
    const t = await spoolServer(dir, [sink]);
    try {
      await send(t.port, ['r@trap.test'], Buffer.from('only once\r\n'));
      await eventually(() => sink.pending === 1, 'publish in flight');
      await Promise.all([t.delivery.forwarder.replay('a'), t.delivery.forwarder.replay('b')]);
      await t.delivery.forwarder.replay('c');
      assert.equal(sink.pending, 1);
      sink.release();
      await eventually(async () => (await readdir(path.join(dir, 'cur'))).length === 1, 'archived');
      await t.delivery.forwarder.replay('d');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(sink.messages.length, 1);
    } finally {
      await t.stop();
    }
  });

  it('retries only the sink that failed when another one already confirmed', async () => {
    const good = new RecordingSink('good');
    const bad = new RecordingSink('bad');
    bad.failWith = 'refused';
    const t = await spoolServer(dir, [good, bad]);
    try {
      await send(t.port, ['r@trap.test'], Buffer.from('partial\r\n'));
      await eventually(() => good.messages.length === 1, 'good sink has it');
      bad.failWith = undefined;
      // A re-scan skips the message while the failed attempt is still being recorded: scan until one retries it.
      await eventually(async () => {
        await t.delivery.forwarder.replay('retry');
        return bad.messages.length === 1;
      }, 'bad sink has it after the retry');
      assert.equal(good.messages.length, 1, 'not published twice to the sink that had confirmed');
    } finally {
      await t.stop();
    }
  });

  it('remembers across a restart which sinks already confirmed: only the one that failed gets it again', async () => {
    const good = new RecordingSink('good');
    const bad = new RecordingSink('bad');
    bad.failWith = 'refused';
    const first = await spoolServer(dir, [good, bad]);
    const body = Buffer.from('Subject: partial\r\n\r\nconfirmed by one sink, then a restart\r\n');
    await send(first.port, ['r@trap.test'], body);
    await eventually(() => good.messages.length === 1, 'good sink has it');
    await first.stop(); // waits for the forward attempt that the bad sink refused

    const goodAfter = new RecordingSink('good');
    const badAfter = new RecordingSink('bad');
    const second = await spoolServer(dir, [goodAfter, badAfter]);
    try {
      await eventually(async () => (await readdir(path.join(dir, 'cur'))).length === 1, 'forwarded after the restart');
      assert.deepEqual(badAfter.messages.map((m) => m.sha256), [sha256(body)]);
      assert.deepEqual(badAfter.messages[0]!.envelope.rcptTo, ['r@trap.test'], 'the envelope survives the rewrite of meta/');
      assert.equal(goodAfter.messages.length, 0, 'published again to the sink that had confirmed');
    } finally {
      await second.stop();
    }
  });

  it('forwards messages put into new/ by someone else (no envelope file)', async () => {
    const sink = new RecordingSink();
    const first = await spoolServer(dir, []);
    await first.stop();
    const bytes = Buffer.from('From the Python collector\r\n');
    await writeFile(path.join(dir, 'new', '1700000000.M1P1Q1.legacy'), bytes);
    const t = await spoolServer(dir, [sink]);
    try {
      await eventually(() => sink.messages.length === 1, 'replayed');
      assert.equal(sink.messages[0]!.sha256, sha256(bytes));
      assert.deepEqual(sink.messages[0]!.envelope.rcptTo, []);
    } finally {
      await t.stop();
    }
  });

  it('answers 451 when the spool cannot be written, and /readyz-style readiness says why', async () => {
    const t = await spoolServer(dir, [new RecordingSink()]);
    try {
      await rm(path.join(dir, 'tmp'), { recursive: true });
      await writeFile(path.join(dir, 'tmp'), 'not a directory');
      const res = await send(t.port, ['a@trap.test', 'b@trap.test'], Buffer.from('nowhere to go\r\n'));
      assert.deepEqual(res.perRecipient.map((r) => r.code), [451, 451]);
      assert.match(res.perRecipient[0]!.text, /Spool write failed/);
      assert.equal(t.delivery.isReady().ready, false);
    } finally {
      await t.stop();
    }
  });

  it('prunes the archive (cur/) by count, never new/', async () => {
    const t = await spoolServer(dir, [new RecordingSink()]);
    for (let i = 0; i < 5; i++) await send(t.port, ['r@trap.test'], Buffer.from(`archived ${i}\r\n`));
    await eventually(async () => (await readdir(path.join(dir, 'cur'))).length === 5, 'five archived');
    await t.stop();
    const stuck = new RecordingSink();
    stuck.ready = false;
    const t2 = await spoolServer(dir, [stuck], { retentionCount: 2 });
    try {
      await send(t2.port, ['r@trap.test'], Buffer.from('waiting in new\r\n'));
      const cur = await readdir(path.join(dir, 'cur'));
      assert.equal(cur.length, 2);
      assert.equal((await readdir(path.join(dir, 'new'))).length, 1);
      assert.equal((await readdir(path.join(dir, 'meta'))).length, 3, 'envelopes of pruned messages are removed too');
    } finally {
      await t2.stop();
    }
  });
});
