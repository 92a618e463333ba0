// The client over real TLS, against a ScriptedBroker with a self-signed certificate made by openssl.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { HpfeedsClient, HpfeedsClientError, type HpfeedsClientOptions } from '../../src/hpfeeds/index.js';
import { ScriptedBroker, within } from './scripted-broker.js';

const T = { timeout: 15_000 }; // bounded: a regression fails instead of hanging

describe('hpfeeds client over TLS', () => {
  let dir: string;
  let cert: string;
  let broker: ScriptedBroker;
  const clients: HpfeedsClient[] = [];

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hpfeeds-tls-'));
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ]);
    cert = await fs.readFile(path.join(dir, 'cert.pem'), 'utf8');
    broker = await ScriptedBroker.start({ tls: { cert, key: await fs.readFile(path.join(dir, 'key.pem'), 'utf8') } });
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await broker?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const client = (tls: HpfeedsClientOptions['tls'], host = '127.0.0.1') => {
    const c = new HpfeedsClient({ host, port: broker.port, ident: 'writer', secret: 'secret', reconnect: false, tls });
    clients.push(c);
    return c;
  };

  /** Connects, publishes, and checks the broker decoded the frame from the encrypted stream. */
  async function roundTrip(c: HpfeedsClient, text: string): Promise<void> {
    const before = broker.connections.length;
    await within(5000, 'connect over TLS', c.connect());
    await c.publish('spam.mails', text);
    const frames = await (await broker.connection(before)).waitFrames(2);
    assert.equal(frames[0]?.op, 'auth');
    assert.ok(frames[1]?.op === 'publish' && frames[1].payload.toString() === text);
    await c.close();
  }

  test('verifies the broker against a given CA (by IP and by name)', T, async () => {
    await roundTrip(client({ ca: cert }), 'verified by IP');
    await roundTrip(client({ ca: cert }, 'localhost'), 'verified by name');
  });

  test('connects with verification turned off', T, async () => {
    await roundTrip(client({ rejectUnauthorized: false }), 'unverified');
  });

  test('refuses a self-signed broker without the CA, and a certificate for another name', T, async () => {
    for (const [tls, why] of [[true, /self[- ]signed/i], [{ ca: cert, servername: 'broker.example' }, /broker\.example/]] as const) {
      const err = await within(5000, 'the TLS failure', client(tls).connect().then(() => assert.fail('connected'), (e: unknown) => e));
      assert.ok(err instanceof HpfeedsClientError && err.code === 'CONNECT_FAILED', String(err));
      assert.match(err.message, why);
    }
  });
});
