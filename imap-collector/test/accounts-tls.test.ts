// Several accounts at once against a real Dovecot: a broken account does not hold up the others, and
// each TLS mode (implicit, STARTTLS, none) works with a self-signed certificate only when certificate
// checking is off. Sink: a maildir archive, so no broker is needed for what is tested here.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectOnce, startContinuous, writeConfigs, type LogLine, type Mailbox } from './helpers/collector.js';
import { plain } from './helpers/corpus.js';
import { Dovecot } from './helpers/dovecot.js';
import { waitUntil } from './helpers/wait.js';

const USERS = ['good', 'badpass', 'idle-good', 'idle-bad', 'tls-starttls-verify', 'tls-starttls-noverify', 'tls-implicit-verify', 'tls-implicit-noverify', 'tls-none'];
const PASSWORD = 'trap-password';

async function archived(maildir: string): Promise<Buffer[]> {
  const dir = path.join(maildir, 'new');
  const names = await readdir(dir).catch(() => []);
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
}

const has = (messages: Buffer[], m: Buffer) => messages.some((x) => x.equals(m));
const errorsOf = (logs: LogLine[], user: string) => logs.filter((l) => String(l.mailbox ?? '').startsWith(`${user}@`) && (l.level as number) >= 50);

describe('several accounts and TLS modes', () => {
  let dovecot: Dovecot;
  let dir: string;

  before(async () => {
    dovecot = await Dovecot.start(USERS.map((name) => ({ name, password: PASSWORD })));
    dir = await mkdtemp(path.join(tmpdir(), 'imap-accounts-'));
  });
  after(async () => {
    await dovecot?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const implicit = (username: string, password = PASSWORD): Mailbox => ({ username, password, port: dovecot.imapsPort, tls: 'implicit', verify_cert: false });

  it('a wrong password on one account does not stop the other (one-shot)', async () => {
    const mine = [plain('good-1'), plain('good-2')];
    await dovecot.append('good', mine);
    const untouched = plain('badpass-1');
    await dovecot.append('badpass', [untouched]);
    const maildir = path.join(dir, 'oneshot-archive');
    const cfg = await writeConfigs(dir, [], [implicit('badpass', 'wrong-password'), implicit('good')]);

    const run = await collectOnce(dir, { mailboxConfig: cfg.mailboxes, maildir });

    assert.deepEqual(run.failed.map((m) => m.split('@')[0]), ['badpass']);
    assert.match(JSON.stringify(errorsOf(run.logs, 'badpass')), /AUTHENTICATIONFAILED|Authentication failed/i);
    const stored = await archived(maildir);
    assert.equal(stored.length, 2);
    for (const m of mine) assert.ok(has(stored, m), 'every message of the good account is archived');
    assert.deepEqual((await dovecot.messages('good')).map((m) => m.flags.has('\\Seen')), [true, true]);
    assert.deepEqual((await dovecot.messages('badpass')).map((m) => m.flags.has('\\Seen')), [false]);
  });

  it('a wrong password on one account does not stop the other (continuous: keeps retrying, the other keeps collecting)', async (t) => {
    const maildir = path.join(dir, 'continuous-archive');
    const cfg = await writeConfigs(dir, [], [implicit('idle-bad', 'wrong-password'), implicit('idle-good')]);
    const { service, logs } = await startContinuous(dir, { mailboxConfig: cfg.mailboxes, maildir, timing: { backoff: { initialDelayMs: 100, maxDelayMs: 200 } } });
    t.after(() => service.stop());

    await waitUntil(() => logs.some((l) => l.msg === 'IMAP session open' && String(l.mailbox).startsWith('idle-good@')), 'idle-good session');
    const later = plain('idle-good-later');
    await dovecot.append('idle-good', [later]);
    await waitUntil(async () => has(await archived(maildir), later), 'the appended message archived');
    await waitUntil(() => logs.filter((l) => l.msg === 'IMAP session failed; reconnecting' && String(l.mailbox).startsWith('idle-bad@')).length >= 2, 'retries of the bad account');
  });

  it('checks certificates: self-signed is refused with verify_cert on and accepted with it off, for implicit TLS and STARTTLS', async () => {
    const byUser = new Map(USERS.filter((u) => u.startsWith('tls-')).map((u) => [u, plain(u)]));
    for (const [user, message] of byUser) await dovecot.append(user, [message]);
    const entry = (username: string, tls: 'implicit' | 'starttls' | 'none', verify: boolean): Mailbox => ({
      username,
      password: PASSWORD,
      port: tls === 'implicit' ? dovecot.imapsPort : dovecot.imapPort,
      tls,
      verify_cert: verify,
    });
    const cfg = await writeConfigs(dir, [], [
      entry('tls-starttls-verify', 'starttls', true),
      entry('tls-starttls-noverify', 'starttls', false),
      entry('tls-implicit-verify', 'implicit', true),
      entry('tls-implicit-noverify', 'implicit', false),
      entry('tls-none', 'none', true),
    ]);
    const maildir = path.join(dir, 'tls-archive');

    const run = await collectOnce(dir, { mailboxConfig: cfg.mailboxes, maildir });

    assert.deepEqual(run.failed.map((m) => m.split('@')[0]).sort(), ['tls-implicit-verify', 'tls-starttls-verify']);
    for (const user of ['tls-implicit-verify', 'tls-starttls-verify']) {
      assert.match(JSON.stringify(errorsOf(run.logs, user)), /self[- ]signed certificate/i, `${user}: the certificate error is logged`);
    }
    const stored = await archived(maildir);
    assert.equal(stored.length, 3);
    for (const user of ['tls-starttls-noverify', 'tls-implicit-noverify', 'tls-none']) {
      assert.ok(has(stored, byUser.get(user)!), `${user} collected`);
      assert.deepEqual((await dovecot.messages(user)).map((m) => m.flags.has('\\Seen')), [true]);
    }
    for (const user of ['tls-implicit-verify', 'tls-starttls-verify']) {
      assert.deepEqual((await dovecot.messages(user)).map((m) => m.flags.has('\\Seen')), [false], `${user} untouched`);
    }
    // The log reports the connection's negotiated TLS version (false in cleartext), not the config.
    const opened = new Map(run.logs.filter((l) => l.msg === 'IMAP session open').map((l) => [String(l.mailbox).split('@')[0], l.tls]));
    assert.deepEqual([...opened.keys()].sort(), ['tls-implicit-noverify', 'tls-none', 'tls-starttls-noverify']);
    assert.match(String(opened.get('tls-implicit-noverify')), /^TLSv1\.[23]$/);
    assert.match(String(opened.get('tls-starttls-noverify')), /^TLSv1\.[23]$/);
    assert.equal(opened.get('tls-none'), false);
  });
});
