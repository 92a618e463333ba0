import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UidStateFile, type UidState } from '../src/state/uid-state.js';

describe('UID state file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'imap-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is absent at first, then holds exactly what was saved, in a directory it creates', async () => {
    const file = UidStateFile.forMailbox(path.join(dir, 'nested', 'state'), 'trap@imap.example.org:993/INBOX');
    assert.equal(await file.load(), undefined);
    const state: UidState = { uidValidity: '4294967295', lastUid: 42, pending: [[3, 5], [7, 7], [9, 41]], unmarked: [42] };
    await file.save(state);
    assert.deepEqual(await file.load(), state);
    assert.deepEqual(await readdir(path.dirname(file.file)), [path.basename(file.file)], 'no temp file left behind');
  });

  it('gives each mailbox its own readable file name', () => {
    const a = UidStateFile.forMailbox(dir, 'trap@imap.example.org:993/INBOX');
    const b = UidStateFile.forMailbox(dir, 'trap@imap.example.org:993/INBOX.Junk');
    const c = UidStateFile.forMailbox(dir, 'trap@imap.example.org:993/INBOX/Junk');
    assert.equal(new Set([a.file, b.file, c.file]).size, 3);
    assert.match(path.basename(a.file), /^trap@imap\.example\.org_993_INBOX\.[0-9a-f]{12}\.json$/);
  });

  it('reads a file from before pending ranges: its refused UIDs become pending', async () => {
    const file = new UidStateFile(path.join(dir, 'older.json'));
    await writeFile(file.file, '{"uidValidity":"7","lastUid":20,"retry":[12,4,5],"unmarked":[]}');
    assert.deepEqual(await file.load(), { uidValidity: '7', lastUid: 20, pending: [[4, 5], [12, 12]], unmarked: [] });
  });

  it('refuses a corrupt file instead of starting over (which would resend the mailbox)', async () => {
    const file = new UidStateFile(path.join(dir, 'corrupt.json'));
    await writeFile(file.file, '{"uidValidity": 5, "lastUid": -1}');
    await assert.rejects(file.load(), /state file .*corrupt\.json is not valid/);
    for (const pending of ['[[5, 3]]', '[[1, 3], [4, 6]]', '[[4, 6], [1, 2]]', '[[0, 2]]', '[[1, 30]]', '[7]']) {
      await writeFile(file.file, `{"uidValidity": "5", "lastUid": 20, "pending": ${pending}, "unmarked": []}`);
      await assert.rejects(file.load(), /state file .*corrupt\.json is not valid/, pending);
    }
    await writeFile(file.file, 'not json');
    await assert.rejects(file.load(), /state file .*corrupt\.json is not valid JSON/);
  });
});
