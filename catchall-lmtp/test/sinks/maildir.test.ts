import assert from 'node:assert/strict';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { decodeSegment, encodeRecordHead } from '../../src/sinks/maildir-journal.js';
import { Maildir, MaildirSink } from '../../src/sinks/maildir.js';
import { SinkError } from '../../src/sinks/sink.js';
import { message } from './helpers.js';

const logger = pino({ level: 'silent' });
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'maildir-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function openMaildir(name: string, hostname?: string): Promise<Maildir> {
  const maildir = new Maildir(join(root, name), { hostname });
  await maildir.open();
  return maildir;
}

describe('Maildir', () => {
  test('stores the exact bytes in new/ and leaves nothing in tmp/', async (t) => {
    const maildir = await openMaildir('exact');
    t.after(() => maildir.close());
    const bytes = Buffer.from('From: a\r\nX: \xff\xfe\x00\n.\r\n..\n\r\n', 'latin1');
    const name = await maildir.add(bytes);
    assert.deepEqual(await maildir.listNew(), [name]);
    assert.ok((await readFile(join(maildir.dir, 'new', name))).equals(bytes));
    assert.deepEqual(await readdir(join(maildir.dir, 'tmp')), []);
    const empty = await maildir.add(Buffer.alloc(0));
    assert.equal((await maildir.readNew(empty)).bytes.length, 0);
  });

  test('a message in pieces is stored as its exact bytes, also in more pieces than one writev takes', async (t) => {
    const maildir = await openMaildir('pieces');
    t.after(() => maildir.close());
    const whole = Buffer.from('Subject: x\r\n\r\n' + 'line \xff\r\n'.repeat(700), 'latin1');
    for (const size of [1, 3, 4096]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < whole.length; i += size) parts.push(whole.subarray(i, i + size));
      parts.splice(1, 0, Buffer.alloc(0));
      const name = await maildir.add(parts, Buffer.from('{"m":1}'));
      const stored = await maildir.readNew(name);
      assert.ok(stored.bytes.equals(whole), `${parts.length} pieces`);
      assert.equal(stored.meta?.toString(), '{"m":1}');
    }
    const record = { name: 'r', body: [whole.subarray(0, 5), whole.subarray(5)] };
    const [decoded] = decodeSegment(Buffer.concat([encodeRecordHead(record), whole]));
    assert.ok(decoded && Buffer.from(decoded.body).equals(whole), 'a journal record written in pieces reads back whole');
  });

  test('names are unique under concurrency, sort in arrival order, and escape / and : of the host name', async (t) => {
    const maildir = await openMaildir('unique', 'trap/1:a');
    t.after(() => maildir.close());
    const first = await maildir.add(Buffer.from('first'));
    const names = await Promise.all(Array.from({ length: 300 }, (_, i) => maildir.add(Buffer.from(`message ${i}`))));
    assert.equal(new Set(names).size, 300);
    const listed = await maildir.listNew();
    assert.equal(listed.length, 301);
    assert.equal(listed[0], first);
    assert.ok(first.endsWith('.trap\\0571\\072a'), first);
    for (const [i, name] of names.entries()) assert.equal((await maildir.readNew(name)).bytes.toString(), `message ${i}`);
  });

  test('a message that arrives while the last batch is being fsynced is written too', { timeout: 60_000 }, async (t) => {
    const maildir = await openMaildir('late');
    t.after(() => maildir.close());
    for (let round = 0; round < 20; round++) {
      let firstDone = false;
      const first = maildir.add(Buffer.from(`first ${round}`)).finally(() => (firstDone = true));
      // Wait until the first message is in new/ but not yet confirmed: its batch's journal flush is
      // running. A message that comes now must not be left behind when that batch completes.
      const before = (await maildir.listNew()).length;
      while (!firstDone && (await maildir.listNew()).length === before) await new Promise((resolve) => setImmediate(resolve));
      const late = maildir.add(Buffer.from(`late ${round}`));
      await Promise.all([first, late]);
    }
    assert.equal((await maildir.listNew()).length, 40);
  });

  test('a reader of new/ never sees a partially written message', async (t) => {
    const maildir = await openMaildir('atomic');
    t.after(() => maildir.close());
    const size = 4 * 1024 * 1024;
    let writing = true;
    const writes = Promise.all(Array.from({ length: 6 }, (_, i) => maildir.add(Buffer.alloc(size, i)))).finally(() => {
      writing = false;
    });
    let seen = 0;
    while (writing) {
      for (const name of await readdir(join(maildir.dir, 'new'))) {
        const info = await stat(join(maildir.dir, 'new', name));
        assert.equal(info.size, size, `${name} visible at ${info.size} of ${size} bytes`);
        seen++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writes;
    assert.equal((await maildir.listNew()).length, 6);
    t.diagnostic(`files observed while writing: ${seen}`);
  });

  test('metadata travels beside the message without touching its bytes', async (t) => {
    const maildir = await openMaildir('meta');
    t.after(() => maildir.close());
    const meta = Buffer.from(JSON.stringify({ mail_from: 'a@b' }));
    const name = await maildir.add(Buffer.from('body'), meta);
    const stored = await maildir.readNew(name);
    assert.equal(stored.bytes.toString(), 'body');
    assert.ok(stored.meta?.equals(meta));
    assert.equal((await maildir.readNew(await maildir.add(Buffer.from('x')))).meta, undefined);
  });

  test('a write that fails rejects its messages, leaves no trace and does not stop later writes', async (t) => {
    const maildir = await openMaildir('failing');
    t.after(() => maildir.close());
    await rm(join(maildir.dir, 'tmp'), { recursive: true });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => maildir.add(Buffer.from(`m${i}`), Buffer.from('{}'))));
    for (const r of results) assert.equal(r.status === 'rejected' && (r.reason as NodeJS.ErrnoException).code, 'ENOENT');
    assert.deepEqual(await maildir.listNew(), []);
    assert.deepEqual(await readdir(join(maildir.dir, 'meta')), []);
    await mkdir(join(maildir.dir, 'tmp'));
    const name = await maildir.add(Buffer.from('after'), Buffer.from('{"ok":1}'));
    assert.deepEqual(await maildir.listNew(), [name]);
    assert.equal((await maildir.readNew(name)).meta?.toString(), '{"ok":1}');
  });

  test('markDelivered moves a message from new/ to cur/', async (t) => {
    const maildir = await openMaildir('deliver');
    t.after(() => maildir.close());
    const a = await maildir.add(Buffer.from('a'));
    const b = await maildir.add(Buffer.from('b'));
    maildir.markDelivered(a);
    assert.deepEqual(await maildir.listNew(), [b]);
    assert.deepEqual(await readdir(join(maildir.dir, 'cur')), [`${a}:2,`]);
    assert.equal((await readFile(join(maildir.dir, 'cur', `${a}:2,`))).toString(), 'a');
    assert.throws(() => maildir.markDelivered(a), { code: 'ENOENT' });
  });

  test('prune applies age and count retention to cur/ only, with the metadata, and clears what dead writers left', async (t) => {
    const maildir = await openMaildir('prune');
    t.after(() => maildir.close());
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      names.push(await maildir.add(Buffer.from(`m${i}`), Buffer.from(`meta${i}`)));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const name of names.slice(0, 4)) maildir.markDelivered(name);
    const foreign = 'not-our-naming';
    await writeFile(join(maildir.dir, 'cur', foreign), 'old');
    const old = new Date(Date.now() - 10 * 86400_000);
    await utimes(join(maildir.dir, 'cur', foreign), old, old);
    const staleTmp = join(maildir.dir, 'tmp', 'crashed-writer');
    await writeFile(staleTmp, 'partial');
    await utimes(staleTmp, old, old);
    // Metadata of a writer that died before renaming its message into new/: removed once stale.
    const orphan = `${Math.floor(old.getTime() / 1000)}.M000000P1Q0R00.host`;
    const freshOrphan = `${Math.floor(Date.now() / 1000)}.M000000P1Q0R00.host`; // may still be being written
    await writeFile(join(maildir.dir, 'meta', orphan), '{}');
    await writeFile(join(maildir.dir, 'meta', freshOrphan), '{}');

    // Age: only the foreign file is older than a day.
    assert.equal(await maildir.prune({ maxAgeMs: 86400_000 }), 1);
    assert.deepEqual(await readdir(join(maildir.dir, 'tmp')), []);
    // Count: keep the newest two of the four delivered ones.
    assert.equal(await maildir.prune({ maxCount: 2 }), 2);
    assert.deepEqual((await readdir(join(maildir.dir, 'cur'))).sort(), [`${names[2]}:2,`, `${names[3]}:2,`]);
    assert.deepEqual((await readdir(join(maildir.dir, 'meta'))).sort(), [freshOrphan, names[2], names[3], names[4]].sort());
    assert.deepEqual(await maildir.listNew(), [names[4]]);
    // Nothing is pruned without a limit.
    assert.equal(await maildir.prune({}), 0);
  });
});

/** add() until it is accepted (a refusal that is expected to clear), for at most 5 s. */
async function eventuallyAdd(maildir: Maildir, bytes: Buffer): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await maildir.add(bytes);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('Maildir journal', () => {
  const journalFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'journal'))).sort();

  /**
   * The state a crash leaves: messages acknowledged (their batch is in the journal) whose files were
   * only in the page cache. A power cut cannot be produced in a test, so the journal is copied while
   * the writer runs, the writer is closed, and the copy is put back as the crash would have left it.
   */
  async function crashAfter(name: string, messages: { body: Buffer; meta?: Buffer }[]): Promise<{ dir: string; names: string[]; journal: string }> {
    const maildir = new Maildir(join(root, name), { journal: { checkpointMs: 3_600_000 } });
    await maildir.open();
    const names = await Promise.all(messages.map((m) => maildir.add(m.body, m.meta)));
    const journal = join(root, `${name}-journal-at-crash`);
    await cp(join(maildir.dir, 'journal'), journal, { recursive: true });
    await maildir.close();
    return { dir: maildir.dir, names, journal };
  }

  test('open() writes again, byte for byte with its metadata, every acknowledged message a crash lost', async () => {
    const bodies = [Buffer.from('lost\r\n\xff\x00 8-bit\r\n', 'latin1'), Buffer.from('truncated by the crash'), Buffer.from('intact'), Buffer.from('forwarded')];
    const crash = await crashAfter('crash', bodies.map((body, i) => ({ body, meta: Buffer.from(`{"n":${i}}`) })));
    const [lost, truncated, intact, forwarded] = crash.names as [string, string, string, string];
    await rm(join(crash.dir, 'journal'), { recursive: true });
    await cp(crash.journal, join(crash.dir, 'journal'), { recursive: true });
    // What the disk holds after the crash: one message gone with its metadata, one cut short, one
    // intact, one already forwarded (in cur/, its metadata pruned).
    await rm(join(crash.dir, 'new', lost));
    await rm(join(crash.dir, 'meta', lost));
    await writeFile(join(crash.dir, 'new', truncated), 'trunc');
    await rename(join(crash.dir, 'new', forwarded), join(crash.dir, 'cur', `${forwarded}:2,S`));
    await rm(join(crash.dir, 'meta', forwarded));
    // ...and the batch being written at the crash, half on disk: never acknowledged, not replayed.
    const [segment] = await journalFiles(crash.dir);
    await appendFile(join(crash.dir, 'journal', segment!), Buffer.from('MJR1\x05\x00\x00\x00half a record', 'latin1'));

    const reopened = new Maildir(crash.dir);
    await reopened.open();
    try {
      assert.deepEqual((await reopened.listNew()).sort(), [lost, truncated, intact].sort());
      for (const [i, name] of [lost, truncated, intact].entries()) {
        const stored = await reopened.readNew(name);
        assert.ok(stored.bytes.equals(bodies[i]!), name);
        assert.equal(stored.meta?.toString(), `{"n":${i}}`);
      }
      assert.deepEqual(await readdir(join(crash.dir, 'cur')), [`${forwarded}:2,S`], 'a forwarded message is not resurrected');
      assert.deepEqual(await readdir(join(crash.dir, 'tmp')), []);
      // Checkpointed: the replayed segment is gone, a fresh empty one is in use.
      const left = await journalFiles(crash.dir);
      assert.equal(left.length, 1);
      assert.notEqual(left[0], segment);
      assert.equal((await stat(join(crash.dir, 'journal', left[0]!))).size, 0);
    } finally {
      await reopened.close();
    }
  });

  test('a journal record whose bytes were damaged ends the segment: it and what follows are not replayed', () => {
    const records = [
      { name: 'a', meta: Buffer.from('{"m":1}'), body: Buffer.from('first\r\n') },
      { name: 'b', body: Buffer.from('second, damaged') },
      { name: 'c', body: Buffer.from('third') },
    ];
    const segment = Buffer.concat(records.flatMap((r) => [encodeRecordHead(r), r.body]));
    assert.deepEqual(decodeSegment(segment).map((r) => [r.name, r.meta?.toString(), r.body.toString()]), records.map((r) => [r.name, r.meta?.toString(), r.body.toString()]));
    const damaged = Buffer.from(segment);
    const at = segment.indexOf('damaged');
    damaged[at] = damaged[at]! ^ 0x20;
    assert.deepEqual(decodeSegment(damaged).map((r) => r.name), ['a']);
    assert.deepEqual(decodeSegment(segment.subarray(0, segment.length - 1)).map((r) => r.name), ['a', 'b']);
  });

  test('a checkpoint flushes the Maildir and deletes the journal it covered; close() leaves none', async () => {
    const maildir = new Maildir(join(root, 'checkpoint'), { journal: { checkpointMs: 20, segmentBytes: 64 } });
    await maildir.open();
    const names: string[] = [];
    for (let i = 0; i < 5; i++) names.push(await maildir.add(Buffer.from(`message ${i} `.repeat(10)))); // one segment each
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = await journalFiles(maildir.dir);
    assert.equal(left.length, 1, `segments after the checkpoints: ${left.join(', ')}`);
    assert.equal((await stat(join(maildir.dir, 'journal', left[0]!))).size, 0);
    assert.deepEqual((await maildir.listNew()).sort(), names.sort());
    await maildir.add(Buffer.from('last'));
    await maildir.close();
    assert.deepEqual(await journalFiles(maildir.dir), []);
    await assert.rejects(maildir.add(Buffer.from('after close')), /not open/);
  });

  test('while checkpoints keep failing, writes go on into the journal, then are refused with the reason, and resume once a checkpoint works', async (t) => {
    const maildir = new Maildir(join(root, 'failing-checkpoints'), { journal: { checkpointMs: 5, segmentBytes: 1 } });
    await maildir.open();
    t.after(() => maildir.close());
    const path = process.env.PATH;
    t.after(() => void (process.env.PATH = path));
    process.env.PATH = join(root, 'no-such-bin'); // every checkpoint's `sync -f` now fails
    const accepted: string[] = [];
    let refusal: Error | undefined;
    for (let i = 0; i < 40 && !refusal; i++) {
      try {
        accepted.push(await maildir.add(Buffer.from(`message ${i}`))); // each one fills a segment
      } catch (err) {
        refusal = err as Error;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(refusal, 'writes are refused once the journal has piled up');
    assert.match(refusal.message, /journal segments wait for a checkpoint that keeps failing: cannot flush .*\(sync -f\)/);
    assert.ok(accepted.length >= 16, `accepted before the refusal: ${accepted.length}`);
    assert.deepEqual((await maildir.listNew()).sort(), accepted.sort(), 'what was accepted is in new/ (and in the journal)');
    process.env.PATH = path;
    await assert.rejects(maildir.add(Buffer.from('still refused, but a checkpoint is retried')));
    const after = await eventuallyAdd(maildir, Buffer.from('after the file system could be flushed again'));
    assert.ok((await maildir.listNew()).includes(after));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal((await journalFiles(maildir.dir)).length, 1, 'the piled-up segments were checkpointed and removed');
  });

  test('a second process cannot write the same Maildir while the first holds it; after the first closes, it can', async () => {
    const dir = join(root, 'one-writer');
    const first = new Maildir(dir);
    await first.open();
    const name = await first.add(Buffer.from('by the first writer'));
    const second = new Maildir(dir, { journal: { lockWaitMs: 1000 } });
    await assert.rejects(second.open(), /maildir .*one-writer is in use by another process \(.*journal\.lock is held and kept fresh\)/);
    assert.deepEqual(await first.listNew(), [name], 'the refused writer touched nothing');
    await first.add(Buffer.from('the first one still works'));
    await first.close();
    const third = new Maildir(dir, { journal: { lockWaitMs: 1000 } });
    await third.open();
    try {
      assert.equal((await third.listNew()).length, 2);
      await third.add(Buffer.from('by the next writer'));
    } finally {
      await third.close();
    }
  });

  test('open() refuses, naming the command, when the file system cannot be flushed', async (t) => {
    const path = process.env.PATH;
    process.env.PATH = join(root, 'no-such-bin');
    t.after(() => void (process.env.PATH = path));
    const maildir = new Maildir(join(root, 'no-sync'));
    await assert.rejects(maildir.open(), /cannot flush the file system holding .*no-sync \(sync -f\): the `sync` command \(coreutils\) is not installed/);
  });
});

describe('MaildirSink', () => {
  test('archives each delivered message to new/', async (t) => {
    const sink = new MaildirSink({ dir: join(root, 'archive') }, { logger });
    t.after(() => sink.close());
    await sink.start();
    assert.equal(sink.isReady(), true);
    const msg = message(Buffer.from('Subject: x\r\n\r\n\x80\x00', 'latin1'));
    await sink.deliver(msg);
    const names = await readdir(join(root, 'archive', 'new'));
    assert.equal(names.length, 1);
    assert.ok((await readFile(join(root, 'archive', 'new', names[0]!))).equals(msg.bytes));
  });

  test('an unusable directory makes deliver reject with the path, without failing start', async (t) => {
    const file = join(root, 'a-file');
    await writeFile(file, '');
    const sink = new MaildirSink({ dir: join(file, 'maildir') }, { logger });
    t.after(() => sink.close());
    await sink.start();
    assert.equal(sink.isReady(), false);
    await assert.rejects(sink.deliver(message(Buffer.from('x'))), (err: Error) => {
      assert.ok(err instanceof SinkError);
      assert.match(err.message, /a-file\/maildir/);
      return true;
    });
  });
});
