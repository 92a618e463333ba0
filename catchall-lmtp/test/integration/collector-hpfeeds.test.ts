// The collector process publishing to our real hpfeeds broker (broker-dev, as a process), read back
// by the `hpfeeds subscribe` CLI: exact bytes and sha256, a message too big for the broker's frame
// limit refused with 4xx (never dropped), and a broker outage answered with 4xx, then 250 on retry.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startCli, type RunningCollector } from '../helpers/cli.js';
import { LmtpClient, asReceived } from '../helpers/lmtp-client.js';
import { eventually } from '../helpers/wait.js';
import { closedPort } from '../sinks/rabbitmq.js';

const BROKER_BIN = fileURLToPath(new URL('../../../broker-dev/bin/hpfeeds-broker.js', import.meta.url));
const HPFEEDS_BIN = fileURLToPath(new URL('../../../broker-dev/bin/hpfeeds.js', import.meta.url));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A child process whose stdout lines are collected. */
function spawnLines(args: string[], env: Record<string, string> = {}): { child: ChildProcess; lines: string[]; stderr: () => string } {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let rest = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    rest += d.toString();
    const parts = rest.split('\n');
    rest = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, lines, stderr: () => err };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function deliver(port: number, body: Buffer): Promise<Array<{ code: number; text: string }>> {
  const { client } = await LmtpClient.connect({ port });
  try {
    return (await client.sendMessage('sender@spam.example', ['a@trap.test', 'b@trap.test'], body)).perRecipient;
  } finally {
    await client.quit();
  }
}

describe('collector + hpfeeds broker', () => {
  let dir: string;
  let auth: string;
  let port: number;
  const children: ChildProcess[] = [];
  const collectors: RunningCollector[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'collector-hpfeeds-'));
    auth = path.join(dir, 'auth.json');
    await writeFile(
      auth,
      JSON.stringify({
        collector: { owner: 'test', secret: 'collector-secret', pubchans: ['spam.mails'], subchans: [] },
        reader: { owner: 'test', secret: 'reader-secret', pubchans: [], subchans: ['spam.mails'] },
        'no-rights': { owner: 'test', secret: 'no-rights-secret', pubchans: [], subchans: [] },
      }),
    );
    port = await closedPort();
  });
  after(async () => {
    for (const c of collectors) await c.stop('SIGKILL').catch(() => undefined);
    for (const c of children) await stopChild(c);
    await rm(dir, { recursive: true, force: true });
  });

  async function startBroker(): Promise<ChildProcess> {
    const broker = spawnLines([BROKER_BIN, '--endpoint', `tcp:port=${port}:interface=127.0.0.1`, '--auth', auth, '--log-level', 'warn', '--max-frame-size', '20000']);
    children.push(broker.child);
    await eventually(() => tcpOpen(port), 'broker listening');
    return broker.child;
  }

  const env = () => ({ HPFEEDS_HOST: '127.0.0.1', HPFEEDS_PORT: String(port), HPFEEDS_IDENT: 'collector', HPFEEDS_SECRET: 'collector-secret', HPFEEDS_CHANNELS: 'spam.mails' });

  it('publishes exact bytes that the subscriber verifies by sha256; too big for a frame → 451, never dropped', async () => {
    const broker = await startBroker();
    try {
      const sub = spawnLines([HPFEEDS_BIN, 'subscribe', '-p', String(port), '-i', 'reader', '-c', 'spam.mails', '--timeout', '30'], { HPFEEDS_SECRET: 'reader-secret' });
      children.push(sub.child);
      await eventually(() => /subscribed/i.test(sub.stderr()), 'subscriber ready');
      const config = path.join(dir, 'small-frames.yml');
      await writeFile(config, `sinks:\n  - type: hpfeeds\n    host: 127.0.0.1\n    port: ${port}\n    ident: collector\n    secret: \${HP_SECRET}\n    channels: [spam.mails]\n    maxFrameSize: 20000\n`);
      const c = await startCli(['-f', config], { HP_SECRET: 'collector-secret' });
      collectors.push(c);
      await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'collector ready');

      const bodies = [
        Buffer.from('Subject: plain\r\n\r\nhello hpfeeds\r\n'),
        Buffer.from('Subject: latin1 caf\xe9\r\n\r\n\xe4\xf6\xfc\x00\xff\r\n', 'latin1'),
        Buffer.from('Subject: bare lf\n\n.dot\nline\r\n'),
      ].map(asReceived);
      for (const body of bodies) assert.deepEqual((await deliver(c.lmtpPort, body)).map((r) => r.code), [250, 250]);
      await eventually(() => sub.lines.length >= 3, 'three messages at the subscriber');
      const got = sub.lines.map((l) => JSON.parse(l) as { payload: string; sha256_ok?: boolean });
      for (const [i, body] of bodies.entries()) {
        const doc = JSON.parse(got[i]!.payload) as { sha256: string; msg: string; encoding?: string };
        assert.equal(doc.sha256, sha256(body));
        assert.equal(got[i]!.sha256_ok, true, 'the subscriber recomputed the sha256 over the message bytes');
        const bytes = doc.encoding === 'base64' ? Buffer.from(doc.msg, 'base64') : Buffer.from(doc.msg, 'utf8');
        assert.ok(bytes.equals(body), `message ${i} byte-exact`);
      }

      const big = asReceived(Buffer.from(`Subject: big\r\n\r\n${'B'.repeat(30_000)}`));
      const replies = await deliver(c.lmtpPort, big);
      assert.deepEqual(replies.map((r) => r.code), [451, 451]);
      assert.match(replies[0]!.text, /too large for the broker.*maxFrameSize 20000/);
      assert.equal(await c.stop(), 0);
    } finally {
      await stopChild(broker);
    }
  });

  it("an ident the broker does not let publish gets 451 with the broker's ERROR text, never 250", async () => {
    const broker = await startBroker();
    try {
      const c = await startCli([], { ...env(), HPFEEDS_IDENT: 'no-rights', HPFEEDS_SECRET: 'no-rights-secret' });
      collectors.push(c);
      await eventually(() => c.logs().some((l) => l.msg === 'hpfeeds connected'), 'the collector connected');
      const body = Buffer.from('Subject: refused\r\n\r\nnot allowed here\r\n');
      // The first right after connecting (refused by ERROR), then the ones after the reconnect.
      const replies = [];
      for (let i = 0; i < 3; i++) replies.push(...(await deliver(c.lmtpPort, body)));
      assert.deepEqual(replies.map((r) => r.code), [451, 451, 451, 451, 451, 451]);
      assert.match(replies[0]!.text, /broker sent ERROR before the publish was accepted: Authkey not allowed to pub here\. ident=no-rights, chan=spam\.mails/);
      for (const r of replies.slice(2)) assert.match(r.text, /Authkey not allowed to pub here/);
      assert.ok(c.logs().some((l) => l.msg === 'hpfeeds broker ERROR: Authkey not allowed to pub here. ident=no-rights, chan=spam.mails'));
      assert.equal(await c.stop(), 0);
    } finally {
      await stopChild(broker);
    }
  });

  it('answers 451 while the broker is down and 250 once it is back, in direct mode', async () => {
    const c = await startCli([], env());
    collectors.push(c);
    const ready = await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`);
    assert.equal(ready.status, 503, 'not ready without the broker');
    assert.match(await ready.text(), /sink not connected: hpfeeds:127\.0\.0\.1/);
    const body = Buffer.from('Subject: outage\r\n\r\nretry me\r\n');
    const down = await deliver(c.lmtpPort, body);
    assert.deepEqual(down.map((r) => r.code), [451, 451]);
    assert.match(down[0]!.text, /hpfeeds:127\.0\.0\.1:\d+/);

    const broker = await startBroker();
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status === 200, 'reconnected');
      assert.deepEqual((await deliver(c.lmtpPort, body)).map((r) => r.code), [250, 250]);
      assert.equal(await c.stop(), 0);
    } finally {
      await stopChild(broker);
    }
  });
});
