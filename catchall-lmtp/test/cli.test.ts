// The catchall-lmtp command as the appliance runs it: seed-compatible options, exit codes,
// the health endpoints and a graceful SIGTERM.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, startCli } from './helpers/cli.js';
import { LmtpClient, asReceived } from './helpers/lmtp-client.js';
import { closedPort } from './sinks/rabbitmq.js';
import { serverReplies, swaks } from './helpers/tools.js';
import { eventually } from './helpers/wait.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'catchall-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('catchall-lmtp command line', () => {
  it('prints help and version with exit code 0', async () => {
    const [help, version] = await Promise.all([runCli(['--help']), runCli(['--version'])]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /-p, --port PORT/);
    assert.match(help.stdout, /-f, --feed-config FILE/);
    assert.match(help.stdout, /-m, --maildir DIR/);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('in a source checkout, a bundle that is missing or older than the sources is refused with the fix', async () => {
    const { execFile } = await import('node:child_process');
    const { utimes } = await import('node:fs/promises');
    const { pathToFileURL } = await import('node:url');
    const check = pathToFileURL(path.join(import.meta.dirname, '../../scripts/lib/bundle-fresh.mjs')).href;
    const stale = path.join(dir, 'stale-bundle.js');
    await writeFile(stale, '');
    await utimes(stale, new Date(0), new Date(0));
    const run = (bundle: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const code = `import(${JSON.stringify(check)}).then((m) => m.assertFresh('catchall-lmtp', new URL(${JSON.stringify(pathToFileURL(bundle).href)})))`;
        const child = execFile(process.execPath, ['-e', code], (err, _out, stderr) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr }));
      });
    const [old, missing] = await Promise.all([run(stale), run(path.join(dir, 'no-such-bundle.js'))]);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /^catchall-lmtp: .*stale-bundle\.js is older than the sources: run `npm run build`/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-bundle\.js is missing: run `npm run build`/);
  });

  it('exits 2 with a clear message for a bad option, a bad config and no destination', async () => {
    const bad = path.join(dir, 'bad.yml');
    await writeFile(bad, 'broker: b\nport: "ten"\nidentity: w\nsecret: s\nchannels: [c]\n');
    const [bogus, badFile, nothing, badEnv, missingEnvFile] = await Promise.all([
      runCli(['--bogus']),
      runCli(['-f', bad]),
      runCli([]),
      runCli(['-m', dir], { CATCHALL_LMTP_PORT: 'twenty-four' }),
      runCli(['--dotenv', path.join(dir, 'nope.env'), '-m', dir]),
    ]);
    assert.equal(bogus.code, 2);
    assert.match(bogus.stderr, /Unknown option '--bogus'/);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /port: expected number, received string; got "ten"/);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /no destination configured/);
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /lmtp\.port: .*"twenty-four" \(from environment variable CATCHALL_LMTP_PORT\)/);
    assert.equal(missingEnvFile.code, 2);
    assert.match(missingEnvFile.stderr, /--dotenv .*nope\.env: no such file/);
  });

  it('--check-config prints the effective config with secrets masked, loading a dotenv file', async () => {
    const envFile = path.join(dir, 'test.env');
    await writeFile(envFile, 'HPFEEDS_HOST=hp.example\nHPFEEDS_IDENT=writer\nHPFEEDS_SECRET=topsecret\nHPFEEDS_CHANNELS=spam.mails\n');
    const r = await runCli(['--check-config', '--dotenv', envFile, '-p', '2424', '--host', '0.0.0.0']);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { lmtp: { port: number; host: string }; sinks: Array<{ host: string; secret: string }> };
    assert.equal(config.lmtp.port, 2424);
    assert.equal(config.lmtp.host, '0.0.0.0');
    assert.equal(config.sinks[0]?.host, 'hp.example');
    assert.equal(config.sinks[0]?.secret, '***');
    assert.doesNotMatch(r.stdout, /topsecret/);
  });

  it('loads .env from the working directory by default; a variable already set wins over it', async () => {
    const cwd = await mkdtemp(path.join(dir, 'cwd-'));
    await writeFile(path.join(cwd, '.env'), 'HPFEEDS_HOST=from-dotenv.example\nHPFEEDS_IDENT=writer\nHPFEEDS_SECRET=s\nHPFEEDS_CHANNELS=spam.mails\nCATCHALL_LMTP_PORT=2626\n');
    const r = await runCli(['--check-config'], { CATCHALL_LMTP_PORT: '2727' }, 60_000, cwd);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { lmtp: { port: number }; sinks: Array<{ host: string }> };
    assert.equal(config.sinks[0]?.host, 'from-dotenv.example');
    assert.equal(config.lmtp.port, 2727, 'the environment wins over .env');
  });

  it('-v logs at debug level', async () => {
    const env = { HPFEEDS_HOST: '127.0.0.1', HPFEEDS_PORT: String(await closedPort()), HPFEEDS_IDENT: 'w', HPFEEDS_SECRET: 's', HPFEEDS_CHANNELS: 'c' };
    const debugLines = async (args: string[]) => {
      const c = await startCli(args, env);
      try {
        // The hpfeeds client's connection attempt is a debug line, logged while the sinks start.
        return c.logs().filter((l) => l.level === 'debug');
      } finally {
        assert.equal(await c.stop(), 0);
      }
    };
    const [verbose, quiet] = await Promise.all([debugLines(['-v']), debugLines([])]);
    assert.ok(verbose.some((l) => l.msg === 'connecting'), JSON.stringify(verbose));
    assert.deepEqual(quiet, []);
  });

  it('exits 1 naming the address when the LMTP port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['-p', String(port), '-m', path.join(dir, 'busy'), '--metrics-port', '0']);
      assert.equal(r.code, 1);
      assert.match(r.stdout + r.stderr, /EADDRINUSE.*127\.0\.0\.1:\d+/);
    } finally {
      blocker.close();
    }
  });

  it('runs the seed command line in spool mode: archives mail, reports health, drains on SIGTERM and exits 0', async () => {
    const maildir = path.join(dir, 'maildir');
    const collector = await startCli(['-m', maildir]);
    try {
      const base = `http://127.0.0.1:${collector.metricsPort}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200, await ready.text());

      const r = await swaks({ port: collector.lmtpPort }, ['--to', 'a@trap.test,b@trap.test', '--body', 'archived by the cli']);
      const replies = serverReplies(r.stdout);
      assert.equal(replies.filter((l) => /^250 2\.6\.0 OK [0-9a-f]{64} spooled$/.test(l)).length, 2, replies.join('\n'));
      // with no broker sink, a spooled message is immediately "forwarded" into the archive
      await eventually(async () => (await readdir(path.join(maildir, 'cur'))).length === 1, 'archived in cur/');
      const [archived] = await readdir(path.join(maildir, 'cur'));
      assert.ok(archived);
      assert.match(await readFile(path.join(maildir, 'cur', archived), 'latin1'), /archived by the cli/);

      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /catchall_messages_total\{result="accepted"\} 1/);
      assert.match(metrics, /catchall_spool_depth 0/);

      const line = collector.logs().find((l) => l.msg === 'message accepted');
      assert.ok(line, 'one log line per message');
      assert.match(String(line.sha256), /^[0-9a-f]{64}$/);
      assert.equal(line.recipients, 2);
      const forwarded = collector.logs().find((l) => l.msg === 'spooled message forwarded');
      assert.equal(forwarded?.file, archived.replace(/:2,$/, ''), 'the spool file, under its own key');
      assert.deepEqual([...new Set(collector.logs().map((l) => l.name))], ['catchall-lmtp'], 'no field overrides the service name');
    } finally {
      assert.equal(await collector.stop('SIGTERM'), 0);
    }
    assert.ok(collector.logs().some((l) => l.msg === 'stopped'));
  });

  it('killed (SIGKILL) in the middle of a burst in spool mode, it loses no message it answered 250 for, and replays its journal at restart', async () => {
    const maildir = path.join(dir, 'crash-spool');
    const collector = await startCli(['-m', maildir]);
    const accepted = new Map<string, Buffer>();
    const sessions = Array.from({ length: 8 }, async (_, s) => {
      const { client } = await LmtpClient.connect({ port: collector.lmtpPort });
      for (let i = 0; i < 5000; i++) {
        const body = Buffer.from(`Subject: burst ${s}.${i}\r\n\r\n${'\xe9 8-bit line\r\n'.repeat(40)}`, 'latin1');
        try {
          const res = await client.sendMessage('sender@x.test', ['trap@trap.test'], body);
          const ok = /OK ([0-9a-f]{64}) spooled$/.exec(res.perRecipient[0]?.text ?? '');
          if (res.perRecipient[0]?.code === 250 && ok) accepted.set(ok[1]!, asReceived(body));
        } catch {
          return; // the collector is gone
        }
      }
    });
    await eventually(() => accepted.size >= 200, '200 messages accepted');
    collector.child.kill('SIGKILL');
    await collector.exited;
    await Promise.all(sessions);
    const left = (await readdir(path.join(maildir, 'journal'))).filter((f) => f.endsWith('.journal'));
    assert.ok(left.length > 0, 'the killed collector left its journal');

    const restarted = await startCli(['-m', maildir]);
    try {
      await eventually(async () => (await readdir(path.join(maildir, 'new'))).length === 0, 'everything replayed into the archive (cur/)');
      const stored = new Map<string, Buffer>();
      for (const name of await readdir(path.join(maildir, 'cur'))) {
        const bytes = await readFile(path.join(maildir, 'cur', name));
        stored.set(createHash('sha256').update(bytes).digest('hex'), bytes);
      }
      for (const [sha, bytes] of accepted) assert.ok(stored.get(sha)?.equals(bytes), `message ${sha} was answered 250 and must be in the spool, byte for byte`);
      assert.equal((await readdir(path.join(maildir, 'cur'))).length, stored.size, 'no message stored twice');
      const journal = await readdir(path.join(maildir, 'journal'));
      assert.equal(journal.length, 1, `the dead process's segments are gone: ${journal.join(', ')}`);
      assert.ok(!left.includes(journal[0]!));
    } finally {
      assert.equal(await restarted.stop('SIGTERM'), 0);
    }
  });
});
