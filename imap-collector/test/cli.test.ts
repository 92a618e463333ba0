// The imap-collector binary as an operator runs it: help, exit codes, a certificate trusted through
// NODE_EXTRA_CA_CERTS, the metrics endpoint, and a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CollectorProcess, runCollector, writeConfigs } from './helpers/collector.js';
import { plain } from './helpers/corpus.js';
import { Dovecot } from './helpers/dovecot.js';

const PASSWORD = 'trap-password';

describe('imap-collector command line', () => {
  let dovecot: Dovecot;
  let dir: string;

  before(async () => {
    dovecot = await Dovecot.start(['good', 'locked-out', 'verified', 'short-flags'].map((name) => ({ name, password: PASSWORD })));
    dir = await mkdtemp(path.join(tmpdir(), 'imap-cli-'));
  });
  after(async () => {
    await dovecot?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await runCollector(['--help'], { cwd: dir });
    assert.equal(run.code, 0);
    const usage = run.logs.map((l) => l.msg).join('\n');
    assert.match(usage, /^Usage: imap-collector -m MAILBOX_CONFIG/);
    for (const option of ['--feed-config', '--mailbox-config', '--fetch-all', '--delete', '--continuous-fetch', '--maildir', '--verbose']) assert.ok(usage.includes(option), option);
  });

  it('exits 2 naming the key of a bad mailbox config, and when no mailbox config is given', async () => {
    const bad = path.join(dir, 'bad-mailboxes.yml');
    await writeFile(bad, '- {username: a, password: secret-value, host: h, port: 99999}\n');
    const run = await runCollector(['-m', bad, '--maildir', path.join(dir, 'unused')], { cwd: dir });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /mailboxes\[0\]\.port: .*65535; got 99999/);
    assert.doesNotMatch(run.stderr, /secret-value/);

    const missing = await runCollector(['--maildir', path.join(dir, 'unused')], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no mailbox config: give -m FILE or set IMAP_MAILBOX_CONFIG/);
  });

  it('one-shot: exits 1 when a mailbox failed, after collecting the others', async () => {
    const message = plain('cli-one-shot');
    await dovecot.append('good', [message]);
    const cfg = await writeConfigs(dir, [], [
      { username: 'locked-out', password: 'wrong', port: dovecot.imapsPort, tls: 'implicit', verify_cert: false },
      { username: 'good', password: PASSWORD, port: dovecot.imapsPort, tls: 'implicit', verify_cert: false },
    ]);
    const maildir = path.join(dir, 'one-shot-archive');
    const run = await runCollector(['-m', cfg.mailboxes, '--maildir', maildir, '--state-dir', path.join(dir, 'state')], { cwd: dir });
    assert.equal(run.code, 1, run.describe());
    assert.equal((await readdir(path.join(maildir, 'new'))).length, 1);
    const done = run.logs.find((l) => l.msg === 'done');
    assert.deepEqual(done?.failed, [`locked-out@127.0.0.1:${dovecot.imapsPort}/INBOX`]);
    assert.equal(done?.name, 'imap-collector');
  });

  it('-f FEED -m MAILBOXES -a -d -v: takes a seen message too, deletes it once archived, and logs at debug level', async () => {
    const message = plain('cli-short-flags');
    await dovecot.append('short-flags', [message], { flags: ['\\Seen'] });
    const archive = path.join(dir, 'short-flags-archive');
    const cfg = await writeConfigs(dir, [{ type: 'maildir', dir: archive }], [
      { username: 'short-flags', password: PASSWORD, port: dovecot.imapsPort, tls: 'implicit', verify_cert: false },
    ]);
    const run = await runCollector(['-f', cfg.feed, '-m', cfg.mailboxes, '-a', '-d', '-v', '--state-dir', path.join(dir, 'state')], { cwd: dir });
    assert.equal(run.code, 0, run.describe());
    const names = await readdir(path.join(archive, 'new'));
    assert.equal(names.length, 1);
    assert.ok((await readFile(path.join(archive, 'new', names[0]!))).equals(message), 'archived byte for byte');
    assert.deepEqual(await dovecot.messages('short-flags'), [], 'deleted from the server');
    assert.equal(run.messages('collected')[0]?.action, 'deleted');
    const debug = run.logs.filter((l) => l.level === 'debug');
    assert.ok(debug.some((l) => l.msg === 'messages to collect'), "the collector's own debug lines");
    assert.ok(debug.some((l) => l.component === 'imapflow'), "imapflow's protocol dialogue");
  });

  it('-c: verifies the certificate against NODE_EXTRA_CA_CERTS, serves /metrics and /readyz, and exits 0 on SIGTERM', async (t) => {
    await dovecot.append('verified', [plain('cli-continuous')]);
    // verify_cert is on (the default); the self-signed certificate is trusted by the CA variable.
    const cfg = await writeConfigs(dir, [], [{ username: 'verified', password: PASSWORD, host: 'localhost', port: dovecot.imapsPort, tls: 'implicit' }]);
    const collector = new CollectorProcess(['-c', '-m', cfg.mailboxes, '--maildir', path.join(dir, 'continuous-archive'), '--state-dir', path.join(dir, 'state'), '--metrics-port', '0'], {
      cwd: dir,
      env: { NODE_EXTRA_CA_CERTS: dovecot.certFile },
    });
    t.after(() => collector.stop());

    await collector.waitForLog((l) => l.msg === 'collected');
    const port = (await collector.waitForLog((l) => l.msg === 'metrics and health endpoints listening')).port as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /imap_collector_messages_total\{mailbox="verified@localhost:\d+\/INBOX",result="collected"\} 1/);
    assert.match(metrics, /imap_collector_mailbox_connected\{mailbox="verified@localhost:\d+\/INBOX"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

    assert.equal(await collector.stop(), 0, collector.describe());
    assert.ok(collector.logs.some((l) => l.msg === 'stopped'));
  });
});
