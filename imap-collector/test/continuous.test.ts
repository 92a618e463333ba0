// Continuous mode (-c) against a real Dovecot and RabbitMQ: new mail is picked up while running, by
// IDLE or, on a server without IDLE, by polling; a broker outage in the middle of a run leaves the mail
// on the server until the broker is back, and then every message arrives exactly once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContinuous, writeConfigs, type LogLine, type Mailbox } from './helpers/collector.js';
import { latin1, plain, sha256 } from './helpers/corpus.js';
import { Dovecot } from './helpers/dovecot.js';
import { RabbitConsumer } from './helpers/rabbit.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { waitUntil } from './helpers/wait.js';

const PASSWORD = 'trap-password';
// Short pauses so that the test does not wait for production-sized backoff.
const QUICK = { backoff: { initialDelayMs: 100, maxDelayMs: 400 } };
const QUICK_SINK = { reconnect: { initialDelayMs: 100, maxDelayMs: 400 } };

const sessionOpen = (logs: LogLine[], user: string) => () => logs.some((l) => l.msg === 'IMAP session open' && String(l.mailbox).startsWith(`${user}@`));

describe('continuous mode', () => {
  let dovecot: Dovecot;
  let noIdle: Dovecot;
  let dir: string;

  before(async () => {
    [dovecot, noIdle] = await Promise.all([
      Dovecot.start(['idle', 'aged', 'outage'].map((name) => ({ name, password: PASSWORD }))),
      Dovecot.start([{ name: 'poll', password: PASSWORD }], { idle: false }),
    ]);
    dir = await mkdtemp(path.join(tmpdir(), 'imap-continuous-'));
  });
  after(async () => {
    await Promise.all([dovecot?.stop(), noIdle?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const box = (server: Dovecot, username: string): Mailbox => ({ username, password: PASSWORD, port: server.imapPort, tls: 'starttls', verify_cert: false });

  it('IDLE: a message appended while running is collected within seconds and marked \\Seen', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const cfg = await writeConfigs(dir, [rabbit.sink('raw')], [box(dovecot, 'idle')]);
    // A poll interval far beyond the test's bounds: only IDLE can be what picks the message up.
    const { service, logs } = await startContinuous(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, timing: { pollIntervalMs: 3_600_000 } });
    t.after(() => service.stop());
    await waitUntil(sessionOpen(logs, 'idle'), 'the IMAP session');
    assert.equal(logs.find((l) => l.msg === 'IMAP session open')?.idle, true);

    const message = latin1('appended-while-idling');
    const [uid] = await dovecot.append('idle', [message]);
    const [received] = await rabbit.waitFor(1);
    assert.ok(received!.content.equals(message));
    await waitUntil(async () => (await dovecot.messages('idle')).every((m) => m.flags.has('\\Seen')), 'the message marked \\Seen');
    assert.ok(logs.some((l) => l.msg === 'collected' && l.uid === uid));
  });

  it('logs out and reconnects when a session reaches its age limit, and keeps collecting', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const cfg = await writeConfigs(dir, [rabbit.sink('raw')], [box(dovecot, 'aged')]);
    // 29 minutes in production; here short enough to see several sessions.
    const { service, logs } = await startContinuous(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, timing: { sessionMaxMs: 300 } });
    t.after(() => service.stop());
    await waitUntil(() => logs.filter((l) => l.msg === 'IMAP session open').length >= 3, 'three sessions');
    assert.ok(logs.some((l) => l.msg === 'session age limit reached; reconnecting'));
    assert.ok(!logs.some((l) => l.msg === 'IMAP session failed; reconnecting'), 'an age-limit reconnect is not a failure');

    const message = plain('after-reconnects');
    await dovecot.append('aged', [message]);
    const [received] = await rabbit.waitFor(1);
    assert.ok(received!.content.equals(message));
  });

  it('a server without IDLE is polled', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const cfg = await writeConfigs(dir, [rabbit.sink('raw')], [box(noIdle, 'poll')]);
    const { service, logs } = await startContinuous(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, timing: { pollIntervalMs: 300 } });
    t.after(() => service.stop());
    await waitUntil(sessionOpen(logs, 'poll'), 'the IMAP session');
    assert.equal(logs.find((l) => l.msg === 'IMAP session open')?.idle, false);

    const message = plain('polled');
    await noIdle.append('poll', [message]);
    const [received] = await rabbit.waitFor(1);
    assert.ok(received!.content.equals(message));
  });

  it('a broker outage while running: nothing is deleted until the broker is back, then each message arrives once', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const proxy = new TcpProxy({ host: '127.0.0.1', port: 5672 });
    await proxy.up();
    t.after(() => proxy.down());
    const cfg = await writeConfigs(dir, [{ ...rabbit.sink('raw', `amqp://guest:guest@127.0.0.1:${proxy.port}/`), ...QUICK_SINK }], [box(dovecot, 'outage')]);
    const { service, logs } = await startContinuous(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, deleteAfter: true, timing: QUICK });
    t.after(() => service.stop());
    await waitUntil(sessionOpen(logs, 'outage'), 'the IMAP session');

    const before = plain('before-outage');
    await dovecot.append('outage', [before]);
    await rabbit.waitFor(1);
    await waitUntil(async () => (await dovecot.messages('outage')).length === 0, 'the first message deleted');

    await proxy.down();
    const during = [plain('during-outage-1'), latin1('during-outage-2')];
    await dovecot.append('outage', during);
    await waitUntil(() => logs.some((l) => l.msg === 'a sink is not connected; leaving this and the following messages for the next pass'), 'a refused delivery');
    const kept = await dovecot.messages('outage');
    assert.deepEqual(kept.map((m) => sha256(m.source)), during.map(sha256), 'both messages still on the server');
    assert.ok(kept.every((m) => !m.flags.has('\\Seen') && !m.flags.has('\\Deleted')));

    await proxy.up();
    await waitUntil(async () => (await dovecot.messages('outage')).length === 0, 'the messages deleted after the broker came back');
    assert.equal(await rabbit.countBeforeMarker(), 3);
    assert.deepEqual(rabbit.received.map((m) => sha256(m.content)), [before, ...during].map(sha256));
  });
});
