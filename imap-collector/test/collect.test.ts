// The collector's promise, end to end: mail in a real Dovecot arrives at the real RabbitMQ, our hpfeeds
// broker and a maildir byte for byte; it is marked or deleted only once every sink confirmed it; a
// refused message or a broker outage leaves the mail on the server; nothing is sent twice.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectOnce, writeConfigs, type Mailbox } from './helpers/collector.js';
import { base64Part, large, latin1, plain, sha256, utf8 } from './helpers/corpus.js';
import { UidStateFile } from '../src/state/uid-state.js';
import { Dovecot } from './helpers/dovecot.js';
import { HpfeedsFixture } from './helpers/hpfeeds.js';
import { decodeJsonPayload, RABBIT_URL, RabbitConsumer } from './helpers/rabbit.js';

const PASSWORD = 'trap-password';
const MiB = 1024 * 1024;
// Given to APPEND, so it is the server's INTERNALDATE (IMAP keeps whole seconds) and unlike the time of the run.
const DELIVERED_AT = new Date('2021-03-04T05:06:07.000Z');

describe('collecting into RabbitMQ, hpfeeds and a maildir', () => {
  let dovecot: Dovecot;
  let noUidplus: Dovecot;
  let dir: string;

  before(async () => {
    [dovecot, noUidplus] = await Promise.all([
      Dovecot.start(['bytes', 'partial', 'outage', 'folders', 'crash'].map((name) => ({ name, password: PASSWORD }))),
      Dovecot.start([{ name: 'shared', password: PASSWORD }], { uidplus: false }),
    ]);
    dir = await mkdtemp(path.join(tmpdir(), 'imap-collect-'));
  });
  after(async () => {
    await Promise.all([dovecot?.stop(), noUidplus?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const box = (username: string, mailbox?: string): Mailbox => ({
    username,
    password: PASSWORD,
    port: dovecot.imapsPort,
    tls: 'implicit',
    verify_cert: false,
    ...(mailbox ? { mailbox } : {}),
  });

  it('delivers 8-bit, UTF-8, base64 and large messages byte for byte to every sink, marks them \\Seen, and sends nothing on a second run', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const hpfeeds = await HpfeedsFixture.start({ maxFrameSize: 16 * MiB });
    t.after(() => hpfeeds.close());
    const messages = [plain('ascii'), latin1('latin1'), utf8('utf8'), base64Part('base64'), large('large', 5 * MiB)];
    const uids = await dovecot.append('bytes', messages, { date: DELIVERED_AT });
    const [alreadyRead] = await dovecot.append('bytes', [plain('read-by-someone')], { flags: ['\\Seen'] });
    const cfg = await writeConfigs(dir, [rabbit.sink('json'), hpfeeds.sink('raw', 16 * MiB)], [box('bytes')]);
    const maildir = path.join(dir, 'bytes-archive');
    const run = { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, maildir, stateDir: path.join(dir, 'bytes-state') };

    const first = await collectOnce(dir, run);
    assert.deepEqual(first.failed, [], JSON.stringify(first.logs));

    // RabbitMQ, json format: the exact bytes, their sha256 (also the AMQP message id), IMAP envelope.
    const amqp = await rabbit.waitFor(messages.length);
    amqp.forEach((m, i) => {
      const doc = decodeJsonPayload(m.content);
      assert.ok(doc.bytes.equals(messages[i]!), `AMQP message ${i} is byte for byte the original`);
      assert.equal(doc.sha256, sha256(messages[i]!));
      assert.equal(m.properties.messageId, doc.sha256);
      const envelope = doc.envelope;
      assert.equal(envelope.source, 'imap');
      assert.equal(envelope.account, 'bytes');
      assert.equal(envelope.mailbox, 'INBOX');
      assert.equal(envelope.uid, uids[i]);
      assert.equal(envelope.size, messages[i]!.length);
      assert.equal(envelope.internaldate, DELIVERED_AT.toISOString());
    });
    // hpfeeds, raw format: the payload is the message itself.
    const hp = await hpfeeds.waitFor(messages.length);
    hp.forEach((m, i) => assert.ok(m.payload.equals(messages[i]!), `hpfeeds message ${i} is byte for byte the original`));
    // maildir archive: the same bytes.
    const archived = await Promise.all((await readdir(path.join(maildir, 'new'))).map((n) => readFile(path.join(maildir, 'new', n))));
    assert.deepEqual(archived.map(sha256).sort(), messages.map(sha256).sort());

    const stored = await dovecot.messages('bytes');
    assert.deepEqual(
      stored.map((m) => [m.uid, m.flags.has('\\Seen')]),
      [...uids.map((uid) => [uid, true]), [alreadyRead, true]],
    );
    assert.ok(stored.every((m, i) => i >= messages.length || m.source.equals(messages[i]!)), 'the server holds what was sent');

    const second = await collectOnce(dir, run);
    assert.deepEqual(second.failed, []);
    assert.equal(second.logs.filter((l) => l.msg === 'collected').length, 0);
    // Anything the second run had published would be queued before these markers.
    assert.equal(await rabbit.countBeforeMarker(), messages.length);
    assert.equal(await hpfeeds.countBeforeMarker(), messages.length);
  });

  it('-d deletes exactly the messages every sink confirmed; one refused by a sink stays, unseen, until a sink takes it', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const hpfeeds = await HpfeedsFixture.start({ maxFrameSize: 4 * MiB });
    t.after(() => hpfeeds.close());
    const [small1, big, small2] = [plain('small-1'), large('too-big-for-hpfeeds', 2 * MiB), plain('small-2')];
    const [small1Uid, bigUid] = await dovecot.append('partial', [small1!, big!, small2!], { date: DELIVERED_AT });
    const run = async (hpfeedsFrameLimit: number) => {
      const cfg = await writeConfigs(dir, [rabbit.sink('raw'), hpfeeds.sink('raw', hpfeedsFrameLimit)], [box('partial')]);
      return collectOnce(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, deleteAfter: true, stateDir: path.join(dir, 'partial-state') });
    };

    // The collector's hpfeeds sink refuses what does not fit its frame limit (1 MiB by default).
    const first = await run(1 * MiB);
    assert.equal(first.failed.length, 1, 'the run reports the refused message');
    const left = await dovecot.messages('partial');
    assert.deepEqual(left.map((m) => [m.uid, m.flags.has('\\Seen')]), [[bigUid, false]]);
    assert.ok(left[0]!.source.equals(big!));
    assert.deepEqual((await hpfeeds.waitFor(2)).map((m) => sha256(m.payload)), [small1!, small2!].map(sha256));
    assert.equal(await hpfeeds.countBeforeMarker(), 2);

    // With a limit that fits, the next run delivers it and only then deletes it.
    const second = await run(4 * MiB);
    assert.deepEqual(second.failed, []);
    assert.deepEqual(await dovecot.messages('partial'), []);
    assert.ok((await hpfeeds.waitFor(3))[2]!.payload.equals(big!));
    // RabbitMQ took the big one both times: delivery is at least once, never at most once.
    const amqp = await rabbit.waitFor(4);
    assert.deepEqual(amqp.map((m) => sha256(m.content)), [small1!, big!, small2!, big!].map(sha256));
    // raw format: the body is the message, the envelope travels in x- headers.
    const client = await dovecot.client('partial');
    const { uidValidity } = await client.mailboxOpen('INBOX');
    await client.logout();
    const published = amqp[0]!;
    assert.equal(published.properties.contentType, 'message/rfc822');
    assert.equal(published.properties.messageId, sha256(small1!));
    const headers = published.properties.headers ?? {};
    assert.deepEqual(
      Object.fromEntries(['x-source', 'x-account', 'x-mailbox', 'x-uid', 'x-uid-validity', 'x-internaldate', 'x-sha256', 'x-size', 'x-mail-from', 'x-rcpt-to'].map((k) => [k, headers[k]])),
      {
        'x-source': 'imap',
        'x-account': 'partial',
        'x-mailbox': 'INBOX',
        'x-uid': small1Uid,
        'x-uid-validity': uidValidity.toString(),
        'x-internaldate': DELIVERED_AT.toISOString(),
        'x-sha256': sha256(small1!),
        'x-size': small1!.length,
        'x-mail-from': '',
        'x-rcpt-to': [],
      },
    );
  });

  it('-d on a server without UIDPLUS flags collected messages \\Deleted but expunges nothing, so what others flagged \\Deleted stays', async () => {
    // Read and deleted by the mailbox's owner in a client that has not expunged yet.
    const [theirs] = await noUidplus.append('shared', [plain('owner-deleted')], { flags: ['\\Seen', '\\Deleted'] });
    const mine = [plain('trap-1'), plain('trap-2')];
    const uids = await noUidplus.append('shared', mine);
    const maildir = path.join(dir, 'shared-archive');
    const cfg = await writeConfigs(dir, [], [{ ...box('shared'), port: noUidplus.imapsPort }]);
    const run = () => collectOnce(dir, { mailboxConfig: cfg.mailboxes, maildir, deleteAfter: true, stateDir: path.join(dir, 'shared-state') });

    const first = await run();
    assert.deepEqual(first.failed, [], JSON.stringify(first.logs));
    assert.equal(first.logs.filter((l) => String(l.msg).startsWith('the server does not offer UIDPLUS')).length, 1, 'warned once for the session');
    assert.deepEqual(first.logs.filter((l) => l.msg === 'collected').map((l) => [l.uid, l.action]), uids.map((uid) => [uid, 'flagged-deleted']));
    assert.deepEqual((await archived(maildir)).map(sha256).sort(), mine.map(sha256).sort());
    const stored = await noUidplus.messages('shared');
    assert.deepEqual(
      stored.map((m) => [m.uid, m.flags.has('\\Deleted'), m.flags.has('\\Seen')]),
      [theirs, ...uids].map((uid) => [uid, true, true]),
      "nothing expunged: the owner's message and the collected ones are all still there",
    );

    const second = await run();
    assert.deepEqual(second.logs.filter((l) => l.msg === 'collected'), [], 'flagged messages are not collected again');
    assert.equal((await noUidplus.messages('shared')).length, 3);
  });

  it('with the broker down nothing is marked or deleted, and everything arrives exactly once when it is back', async (t) => {
    const rabbit = await RabbitConsumer.create();
    t.after(() => rabbit.close());
    const messages = [plain('outage-1'), latin1('outage-2'), plain('outage-3')];
    await dovecot.append('outage', messages);
    const stateDir = path.join(dir, 'outage-state');
    const run = async (url: string) => {
      const cfg = await writeConfigs(dir, [rabbit.sink('raw', url)], [box('outage')]);
      return collectOnce(dir, { feedConfig: cfg.feed, mailboxConfig: cfg.mailboxes, deleteAfter: true, stateDir, sinkWaitMs: 500 });
    };

    const down = await run(`amqp://guest:guest@127.0.0.1:${await deadPort()}/`);
    assert.equal(down.failed.length, 1);
    assert.ok(down.logs.some((l) => l.msg === 'a sink is not connected; leaving this and the following messages for the next pass'));
    const untouched = await dovecot.messages('outage');
    assert.equal(untouched.length, 3);
    assert.ok(untouched.every((m) => !m.flags.has('\\Seen')));

    const back = await run(RABBIT_URL);
    assert.deepEqual(back.failed, []);
    assert.deepEqual(await dovecot.messages('outage'), []);
    assert.equal(await rabbit.countBeforeMarker(), 3);
    assert.deepEqual(rabbit.received.slice(0, 3).map((m) => sha256(m.content)), messages.map(sha256));
  });

  it('a message confirmed just before a crash, but not yet marked, is marked on the next run and not sent again', async () => {
    const [uid] = await dovecot.append('crash', [plain('confirmed-then-crash')]);
    const client = await dovecot.client('crash');
    const { uidValidity } = await client.mailboxOpen('INBOX');
    await client.logout();
    // What the state file holds when the process died between the sinks' confirm and the STORE.
    const stateDir = path.join(dir, 'crash-state');
    await UidStateFile.forMailbox(stateDir, `crash@127.0.0.1:${dovecot.imapsPort}/INBOX`).save({ uidValidity: uidValidity.toString(), lastUid: uid!, pending: [], unmarked: [uid!] });
    const maildir = path.join(dir, 'crash-archive');
    const cfg = await writeConfigs(dir, [], [box('crash')]);

    const run = await collectOnce(dir, { mailboxConfig: cfg.mailboxes, maildir, stateDir });
    assert.deepEqual(run.failed, []);
    assert.ok(run.logs.some((l) => l.msg === 'marking messages that were confirmed before the last disconnect'));
    assert.deepEqual((await dovecot.messages('crash')).map((m) => [m.uid, m.flags.has('\\Seen')]), [[uid, true]]);
    assert.deepEqual(await readdir(path.join(maildir, 'new')), [], 'not sent again');
  });

  it('-a takes every message not collected yet, also seen ones a default run passed over, each once; a recreated folder (new UIDVALIDITY) is collected anew', async () => {
    const maildir = path.join(dir, 'folders-archive');
    const cfg = await writeConfigs(dir, [], [box('folders', 'Junk')]);
    const stateDir = path.join(dir, 'folders-state');
    const run = (fetchAll: boolean) => collectOnce(dir, { mailboxConfig: cfg.mailboxes, maildir, fetchAll, stateDir });
    const collected = (r: Awaited<ReturnType<typeof run>>) => r.logs.filter((l) => l.msg === 'collected').map((l) => l.uid);

    const [seen1, seen2] = await dovecot.append('folders', [plain('seen-1'), plain('seen-2')], { mailbox: 'Junk', flags: ['\\Seen'] });
    const [unseen] = await dovecot.append('folders', [plain('unseen')], { mailbox: 'Junk' });
    assert.deepEqual(collected(await run(false)), [unseen], 'a default run takes the unseen message only');
    assert.deepEqual(collected(await run(true)), [seen1, seen2], '-a then takes the seen ones below it');
    assert.deepEqual(collected(await run(true)), [], 'a third run takes nothing');
    assert.deepEqual(collected(await run(false)), []);

    const [laterSeen] = await dovecot.append('folders', [plain('later-seen')], { mailbox: 'Junk', flags: ['\\Seen'] });
    const [laterUnseen] = await dovecot.append('folders', [plain('later-unseen')], { mailbox: 'Junk' });
    assert.deepEqual(collected(await run(false)), [laterUnseen], 'without -a a seen message is not taken');
    assert.deepEqual(collected(await run(true)), [laterSeen]);
    // A passed-over message that someone marks unread again is unseen and not collected: a default run takes it.
    const [readThenUnread] = await dovecot.append('folders', [plain('read-then-unread')], { mailbox: 'Junk', flags: ['\\Seen'] });
    const [unseen3] = await dovecot.append('folders', [plain('unseen-3')], { mailbox: 'Junk' });
    assert.deepEqual(collected(await run(false)), [unseen3]);
    const flagger = await dovecot.client('folders');
    await flagger.mailboxOpen('Junk');
    await flagger.messageFlagsRemove(String(readThenUnread), ['\\Seen'], { uid: true });
    await flagger.logout();
    assert.deepEqual(collected(await run(false)), [readThenUnread]);
    const state = await UidStateFile.forMailbox(stateDir, `folders@127.0.0.1:${dovecot.imapsPort}/Junk`).load();
    assert.deepEqual(state?.pending, [], 'once -a took everything, nothing is left to remember');

    const client = await dovecot.client('folders');
    await client.mailboxDelete('Junk');
    await client.logout();
    const [fresh] = await dovecot.append('folders', [plain('after-recreate')], { mailbox: 'Junk' });
    const afterRecreate = await run(true);
    assert.ok(afterRecreate.logs.some((l) => l.msg === 'UIDVALIDITY changed; collecting the mailbox from the start'));
    assert.deepEqual(collected(afterRecreate), [fresh]);
    assert.equal((await readdir(path.join(maildir, 'new'))).length, 8);
    assert.deepEqual(collected(await run(true)), []);
  });
});

async function archived(maildir: string): Promise<Buffer[]> {
  const names = await readdir(path.join(maildir, 'new'));
  return Promise.all(names.map((n) => readFile(path.join(maildir, 'new', n))));
}

/** A loopback port nobody listens on: bound by the OS, then released. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
