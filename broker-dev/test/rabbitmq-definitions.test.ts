// The compose dev RabbitMQ is configured by broker-dev/rabbitmq/. These tests check the files and then
// import the definitions into the machine's real RabbitMQ, on a throwaway vhost with renamed users so
// nothing shared is touched, and prove the writer can publish the way the collector does and the
// reader can consume — and neither can do the other's job.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import amqp from 'amqplib';

const run = promisify(execFile);
const dir = path.join(import.meta.dirname, '..', 'rabbitmq');
// The dev default passwords documented in broker-dev/README.md.
const PASSWORDS: Record<string, string> = { writer: 'writer-dev-password', reader: 'reader-dev-password' };

interface Definitions {
  users: { name: string; password_hash: string; hashing_algorithm: string; tags: string[] }[];
  vhosts: { name: string }[];
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[];
  exchanges: { name: string; vhost: string; type: string; durable: boolean; auto_delete: boolean }[];
  queues: { name: string; vhost: string; durable: boolean; auto_delete: boolean }[];
  bindings: { source: string; vhost: string; destination: string; destination_type: string; routing_key: string }[];
}

const readDefinitions = async (): Promise<Definitions> => JSON.parse(await fs.readFile(path.join(dir, 'definitions.json'), 'utf8'));

// rabbit_password_hashing_sha256: base64(salt[4] ‖ SHA-256(salt ‖ password)).
function passwordMatches(hash: string, password: string): boolean {
  const raw = Buffer.from(hash, 'base64');
  const salt = raw.subarray(0, 4);
  return createHash('sha256').update(salt).update(password).digest().equals(raw.subarray(4));
}

describe('rabbitmq definitions (files)', () => {
  test('spam topic exchange, not durable, as spamtrap-system consumers and the collector declare it', async () => {
    const d = await readDefinitions();
    const spam = d.exchanges.find((e) => e.name === 'spam');
    assert.deepEqual(spam && { type: spam.type, durable: spam.durable, auto_delete: spam.auto_delete }, { type: 'topic', durable: false, auto_delete: false });
  });

  test('a durable queue bound to spam.mails, so nothing is dropped while no consumer runs', async () => {
    const d = await readDefinitions();
    const binding = d.bindings.find((b) => b.source === 'spam' && b.routing_key === 'spam.mails');
    assert.ok(binding, 'no binding from spam with key spam.mails');
    assert.equal(binding.destination_type, 'queue');
    const queue = d.queues.find((q) => q.name === binding.destination);
    assert.equal(queue?.durable, true);
    assert.equal(queue?.auto_delete, false);
  });

  test('writer and reader with the documented dev passwords; no guest user', async () => {
    const d = await readDefinitions();
    assert.deepEqual(d.users.map((u) => u.name).sort(), ['reader', 'writer']);
    for (const u of d.users) {
      assert.equal(u.hashing_algorithm, 'rabbit_password_hashing_sha256');
      assert.ok(passwordMatches(u.password_hash, PASSWORDS[u.name]!), `${u.name}'s hash does not match the documented password`);
      assert.deepEqual(u.tags, [], `${u.name} needs no management tags`);
    }
    assert.ok(d.vhosts.some((v) => v.name === '/'), 'vhost / must be declared: RabbitMQ skips its defaults when it imports definitions');
  });

  test('rabbitmq.conf loads the definitions and keeps guest on loopback', async () => {
    const conf = await fs.readFile(path.join(dir, 'rabbitmq.conf'), 'utf8');
    assert.match(conf, /^load_definitions = \/etc\/rabbitmq\/definitions\.json$/m);
    assert.match(conf, /^loopback_users\.guest = true$/m);
  });
});

describe('rabbitmq definitions (imported into the real RabbitMQ)', () => {
  const suffix = randomBytes(4).toString('hex');
  const vhost = `defs-test-${suffix}`;
  const names: Record<string, string> = { writer: `writer-${suffix}`, reader: `reader-${suffix}` };
  const connections: amqp.ChannelModel[] = [];

  const connect = async (role: 'writer' | 'reader') => {
    const c = await amqp.connect({ hostname: '127.0.0.1', port: 5672, username: names[role], password: PASSWORDS[role], vhost });
    c.on('error', () => {}); // channel-level refusals below are expected; they surface through promises
    connections.push(c);
    return c;
  };

  before(async () => {
    // The same definitions, moved onto a private vhost and private user names.
    const d = await readDefinitions();
    const rename = (u: string) => names[u] ?? u;
    const moved = {
      users: d.users.map((u) => ({ ...u, name: rename(u.name) })),
      vhosts: [{ name: vhost }],
      permissions: d.permissions.map((p) => ({ ...p, user: rename(p.user), vhost })),
      exchanges: d.exchanges.map((e) => ({ ...e, vhost })),
      queues: d.queues.map((q) => ({ ...q, vhost })),
      bindings: d.bindings.map((b) => ({ ...b, vhost })),
    };
    // Through stdin: rabbitmqctl runs as the rabbitmq user, which cannot read a private temp dir.
    const importing = run('rabbitmqctl', ['-q', 'import_definitions', '--format', 'json'], { timeout: 30_000 });
    importing.child.stdin?.end(JSON.stringify(moved));
    await importing;
  });

  after(async () => {
    await Promise.allSettled(connections.map((c) => c.close()));
    await Promise.allSettled([
      run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeout: 30_000 }),
      ...Object.values(names).map((u) => run('rabbitmqctl', ['-q', 'delete_user', u], { timeout: 30_000 })),
    ]);
  });

  test('writer publishes like the collector; reader consumes it; each is refused the other job', async () => {
    const body = randomBytes(64);

    const writer = await connect('writer');
    const pub = await writer.createConfirmChannel();
    let returned = false;
    pub.on('return', () => (returned = true));
    await pub.assertExchange('spam', 'topic', { durable: false }); // the collector's declare
    pub.publish('spam', 'spam.mails', body, { persistent: true, mandatory: true, messageId: 'm1' });
    await pub.waitForConfirms();
    assert.equal(returned, false, 'message was unroutable: binding spam → spam.mails missing');

    const writerReads = await writer.createChannel();
    writerReads.on('error', () => {});
    await assert.rejects(writerReads.get('spam.mails'), /ACCESS_REFUSED/);

    const reader = await connect('reader');
    const sub = await reader.createChannel();
    await sub.assertQueue('spam.mails', { durable: true }); // consumers commonly re-assert their queue
    const got = await sub.get('spam.mails', { noAck: false });
    assert.ok(got, 'reader found no message in spam.mails');
    assert.deepEqual(got.content, body);
    assert.equal(got.properties.messageId, 'm1');
    sub.ack(got);

    const readerWrites = await reader.createConfirmChannel();
    const refused = new Promise<Error>((resolve) => readerWrites.once('error', resolve));
    readerWrites.publish('spam', 'spam.mails', body);
    await assert.rejects(readerWrites.waitForConfirms());
    assert.match((await refused).message, /ACCESS_REFUSED/);
  });
});
