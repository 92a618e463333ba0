// The two binaries as users and scripts run them: hpfeeds-broker and hpfeeds subscribe/publish.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { encodePublish, encodeSubscribe } from 'catchall-lmtp/hpfeeds';
import { eventually, RawPeer, within } from './helpers.js';

const BIN = path.join(import.meta.dirname, '..', 'bin');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(bin: 'hpfeeds-broker' | 'hpfeeds', args: string[], input?: Buffer, env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [path.join(BIN, `${bin}.js`), ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (input) child.stdin!.end(input);
  else child.stdin!.end();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const AUTH = {
  writer: { owner: 'collector', secret: 'ws', pubchans: ['spam.mails'], subchans: [] },
  reader: { owner: 'research', secret: 'rs', pubchans: [], subchans: ['spam.mails'] },
};
const logLines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('hpfeeds-broker and hpfeeds CLIs', () => {
  let dir: string;
  let authFile: string;
  let broker: Run;
  let port: number;
  let tlsPort: number;
  let exporterPort: number;
  let cert: string;
  const children: Run[] = [];
  const client = (args: string[], input?: Buffer, env?: Record<string, string>) => {
    const r = run('hpfeeds', ['--host', '127.0.0.1', '--port', String(port), ...args], input, env);
    children.push(r);
    return r;
  };

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hpfeeds-cli-'));
    authFile = path.join(dir, 'auth.json');
    await fs.writeFile(authFile, JSON.stringify(AUTH));
    cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { timeout: 30_000 });
    broker = run('hpfeeds-broker', [
      '--endpoint', 'tcp:port=0:interface=127.0.0.1',
      '--endpoint', `tls:port=0:interface=127.0.0.1:cert=${cert}:key=${key}`,
      '--auth', authFile, '--exporter', '127.0.0.1:0', '--name', 'cli-test', '--max-frame-size', '65536',
    ]);
    await eventually('the broker to report its ports', () => broker.stdout().includes('exporter listening'), 15_000);
    const lines = logLines(broker.stdout());
    port = lines.find((x) => x.msg === 'listening' && x.kind === 'tcp')!.port as number;
    tlsPort = lines.find((x) => x.msg === 'listening' && x.kind === 'tls')!.port as number;
    exporterPort = lines.find((x) => x.msg === 'exporter listening (/metrics, /healthz)')!.port as number;
  });

  after(async () => {
    for (const c of [...children, broker]) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('subscribe prints one JSON line per message; publish sends args or the exact stdin bytes', async () => {
    const sub = client(['subscribe', '-i', 'reader', '-s', 'rs', '-c', 'spam.mails', '--count', '3', '--timeout', '20']);
    await eventually('the subscriber to be ready', () => sub.stderr().includes('subscribed to spam.mails'), 15_000);

    const mail = Buffer.concat([Buffer.from('Subject: test\r\n\r\n'), Buffer.from([0xff, 0xfe, 0x00, 0x0a])]);
    const spam = Buffer.from(JSON.stringify({ sha256: sha(mail), msg: mail.toString('base64'), encoding: 'base64' }));
    const raw = randomBytes(1000);
    // One after the other, so the order of the lines is known.
    for (const [args, input] of [
      [['hello', 'world'], undefined],
      [[], spam],
      [['-'], raw],
    ] as const) {
      const p = client(['publish', '-i', 'writer', '-s', 'ws', '-c', 'spam.mails', ...args], input);
      assert.equal(await within(15_000, 'publish to exit', p.exited), 0, p.stderr());
    }

    assert.equal(await within(20_000, 'subscribe --count 3 to exit', sub.exited), 0, sub.stderr());
    const lines = logLines(sub.stdout());
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0], { ident: 'writer', channel: 'spam.mails', payload: 'hello world', sha256: sha(Buffer.from('hello world')) });
    assert.deepEqual(lines[1], { ident: 'writer', channel: 'spam.mails', payload: spam.toString(), sha256: sha(mail), sha256_ok: true });
    assert.deepEqual(lines[2], { ident: 'writer', channel: 'spam.mails', payload: raw.toString('base64'), encoding: 'base64', sha256: sha(raw) });
  });

  test('broker errors reach the user: denied publish and wrong secret exit 1 with the broker text', async () => {
    const denied = client(['publish', '-i', 'reader', '-s', 'rs', '-c', 'spam.mails', 'x']);
    const wrong = client(['subscribe', '-i', 'reader', '-s', 'nope', '-c', 'spam.mails', '--timeout', '10']);
    assert.equal(await within(15_000, 'publish to exit', denied.exited), 1);
    assert.match(denied.stderr(), /Authkey not allowed to pub here\. ident=reader, chan=spam\.mails/);
    assert.equal(await within(15_000, 'subscribe to exit', wrong.exited), 1);
    assert.match(wrong.stderr(), /Authentication failed for reader/);
  });

  test('TLS: --ca verifies the broker, --tls-insecure skips verification, --tls alone refuses a self-signed broker', async () => {
    const tls = (args: string[], input?: Buffer) => client([...args, '--port', String(tlsPort)], input);
    const sub = tls(['subscribe', '-i', 'reader', '-s', 'rs', '-c', 'spam.mails', '--count', '2', '--timeout', '20', '--ca', cert]);
    const refused = tls(['publish', '-i', 'writer', '-s', 'ws', '-c', 'spam.mails', '--tls', 'never delivered']);
    await eventually('the TLS subscriber to be ready', () => sub.stderr().includes('subscribed to'), 15_000);
    for (const flag of ['--ca', '--tls-insecure']) {
      const p = tls(['publish', '-i', 'writer', '-s', 'ws', '-c', 'spam.mails', flag, ...(flag === '--ca' ? [cert] : []), `via ${flag}`]);
      assert.equal(await within(15_000, 'publish to exit', p.exited), 0, p.stderr());
    }
    assert.equal(await within(20_000, 'the TLS subscriber to exit', sub.exited), 0, sub.stderr());
    assert.deepEqual(logLines(sub.stdout()).map((l) => l.payload), ['via --ca', 'via --tls-insecure']);
    assert.equal(await within(15_000, 'the refused publish to exit', refused.exited), 1);
    assert.match(refused.stderr(), /self[- ]signed|certificate/i);
  });

  test('--max-frame-size: a larger PUBLISH is refused and the publisher told why', async () => {
    const big = client(['publish', '-i', 'writer', '-s', 'ws', '-c', 'spam.mails'], Buffer.alloc(70_000, 0x61));
    assert.equal(await within(15_000, 'publish to exit', big.exited), 1);
    assert.match(big.stderr(), /broker error: Malformed frame: PUBLISH frame of 70023 bytes exceeds the limit of 65536 bytes/);
  });

  test('subscribe --timeout without enough messages exits 1 and says how many arrived', async () => {
    const sub = client(['subscribe', '-i', 'reader', '-s', 'rs', '-c', 'spam.mails', '--count', '1', '--timeout', '0.5']);
    assert.equal(await within(15_000, 'subscribe to exit', sub.exited), 1);
    assert.match(sub.stderr(), /timed out after 0\.5 s: received 0 of 1 messages/);
  });

  test('bad arguments: a clear message and exit 2', async () => {
    const cases: [Run, RegExp][] = [
      [run('hpfeeds-broker', ['--endpoint', 'udp:port=1']), /--endpoint: .*type must be tcp or tls/],
      [run('hpfeeds-broker', ['--bogus']), /Unknown option '--bogus'/],
      [run('hpfeeds-broker', ['--auth', path.join(os.tmpdir(), 'does-not-exist.json')]), /--auth: cannot read auth file/],
      [run('hpfeeds', ['fetch']), /unknown action "fetch"/],
      [run('hpfeeds', ['publish', '-i', 'x', '-s', 'y', '-c', 'c', '--port', '70000', 'p']), /--port must be a whole number from 1 to 65535/],
    ];
    await within(20_000, 'every case to exit', Promise.all(cases.map(([r]) => r.exited)));
    for (const [r, message] of cases) {
      assert.equal(await r.exited, 2, r.stderr());
      assert.match(r.stderr(), message);
      assert.match(r.stderr(), /--help/);
    }
    const help = run('hpfeeds-broker', ['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.stdout(), /--endpoint SPEC/);
  });

  test('the exporter serves /metrics and /healthz', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${exporterPort}/metrics`)).text();
    assert.match(metrics, /^hpfeeds_broker_client_connections \d+$/m);
    assert.match(metrics, /^hpfeeds_broker_connection_made_total \d+$/m);
    assert.match(metrics, /^process_cpu_seconds_total /m);
    assert.equal((await fetch(`http://127.0.0.1:${exporterPort}/healthz`)).status, 200);
  });

  test('--name is the broker name in INFO', async () => {
    const peer = await RawPeer.connect(port);
    const info = await peer.next();
    assert.ok(info.op === 'info' && info.name === 'cli-test', JSON.stringify(info));
    peer.destroy();
  });

  test('--max-connections: a connection over the limit gets ERROR and is closed; a freed slot is reusable', async () => {
    const limited = run('hpfeeds-broker', ['--endpoint', 'tcp:port=0:interface=127.0.0.1', '--max-connections', '1']);
    children.push(limited);
    await eventually('the limited broker to listen', () => limited.stdout().includes('"msg":"listening"'), 15_000);
    const limitedPort = logLines(limited.stdout()).find((l) => l.msg === 'listening')!.port as number;
    const first = await RawPeer.connect(limitedPort);
    assert.equal((await first.next()).op, 'info');
    const second = await RawPeer.connect(limitedPort);
    await second.expectErrorAndClose('Too many connections (limit 1)');
    first.destroy();
    await eventually('the slot to be free again', async () => {
      const again = await RawPeer.connect(limitedPort);
      const f = await again.next();
      again.destroy();
      return f.op === 'info';
    });
    limited.child.kill('SIGTERM');
    assert.equal(await within(10_000, 'the limited broker to exit', limited.exited), 0);
  });

  test('--auth FILE.json is reloaded when the file changes: a new ident works without a restart', async () => {
    const late = { owner: 'o', secret: 'late-secret', pubchans: [], subchans: ['spam.mails'] };
    await (await RawPeer.authed(port, 'late', late.secret)).expectErrorAndClose('Authentication failed for late');
    const reloads = () => logLines(broker.stdout()).filter((l) => l.msg === 'auth file reloaded' && l.idents === 3).length;
    await fs.writeFile(authFile, JSON.stringify({ ...AUTH, late }));
    await eventually('the broker to log the reload', () => reloads() > 0, 10_000);

    const sub = await RawPeer.authed(port, 'late', late.secret);
    sub.write(encodeSubscribe('late', 'spam.mails'));
    const pub = await RawPeer.authed(port, 'writer', AUTH.writer.secret);
    // The SUBSCRIBE may still be in flight: publish until one arrives (a PUBLISH has no reply to wait for).
    await eventually('a message for the new ident', () => {
      pub.write(encodePublish('writer', 'spam.mails', Buffer.from('for late')));
      return sub.frames.length > 0;
    });
    const f = sub.frames[0]!;
    assert.ok(f.op === 'publish' && f.ident === 'writer' && f.payload.toString() === 'for late', JSON.stringify(f));
    for (const p of [sub, pub]) p.destroy();
  });

  test('--auth env, and SIGTERM with a client connected: stops and exits 0', async () => {
    const envBroker = run('hpfeeds-broker', ['--endpoint', 'tcp:port=0:interface=127.0.0.1', '--auth', 'env'], undefined, {
      HPFEEDS_READER_SECRET: 'env-secret',
      HPFEEDS_READER_SUBCHANS: 'spam.mails,other',
    });
    children.push(envBroker);
    await eventually('the env broker to listen', () => envBroker.stdout().includes('"msg":"listening"'), 15_000);
    const envPort = logLines(envBroker.stdout()).find((l) => l.msg === 'listening')!.port as number;
    assert.ok(logLines(envBroker.stdout()).some((l) => l.msg === 'auth database loaded' && l.idents === 1));
    const sub = client(['subscribe', '--port', String(envPort), '-i', 'reader', '-c', 'other'], undefined, { HPFEEDS_SECRET: 'env-secret' });
    await eventually('the subscriber to be ready', () => sub.stderr().includes('subscribed to'), 15_000);
    await eventually('the env broker to accept the AUTH', () => envBroker.stdout().includes('"msg":"client authenticated"'));

    envBroker.child.kill('SIGTERM');
    assert.equal(await within(10_000, 'the broker to exit', envBroker.exited), 0);
    assert.ok(logLines(envBroker.stdout()).some((l) => l.msg === 'stopped'));
    assert.equal(sub.child.exitCode, null, 'a subscriber outlives a broker restart (it reconnects)');
    sub.child.kill('SIGTERM');
    assert.equal(await within(10_000, 'the subscriber to exit', sub.exited), 0);
  });
});
