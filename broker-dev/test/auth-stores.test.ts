import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AuthConfigError } from '../src/auth/auth-store.js';
import { EnvAuthStore } from '../src/auth/env.js';
import { JsonFileAuthStore, readAuthFile } from '../src/auth/json-file.js';

const entry = (secret: string, pub: string[] = [], sub: string[] = []) => ({ owner: 'o', secret, pubchans: pub, subchans: sub });

describe('env auth store (HPFEEDS_<IDENT>_…)', () => {
  test('reads secret, channels and owner with the ident upper-cased', async () => {
    const store = new EnvAuthStore({
      HPFEEDS_WRITER_SECRET: 's3cret',
      HPFEEDS_WRITER_PUBCHANS: 'spam.mails, other',
      HPFEEDS_WRITER_OWNER: 'collector',
      HPFEEDS_READER_SECRET: 'r',
      HPFEEDS_READER_SUBCHANS: 'spam.mails',
      HPFEEDS_SECRET: 'the collector client variable, not an ident',
    });
    assert.deepEqual(await store.lookup('writer'), { ident: 'writer', owner: 'collector', secret: 's3cret', pubchans: ['spam.mails', 'other'], subchans: [] });
    assert.deepEqual(await store.lookup('reader'), { ident: 'reader', owner: 'reader', secret: 'r', pubchans: [], subchans: ['spam.mails'] });
    assert.equal(await store.lookup('nobody'), undefined);
    assert.equal(store.size(), 2);
  });

  test('an empty secret means the ident does not exist', async () => {
    assert.equal(await new EnvAuthStore({ HPFEEDS_X_SECRET: '' }).lookup('x'), undefined);
  });
});

describe('JSON file auth store', () => {
  let dir: string;
  let store: JsonFileAuthStore | undefined;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hpfeeds-auth-'))));
  afterEach(async () => {
    store?.close();
    store = undefined;
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('loads the reference format', async () => {
    const file = path.join(dir, 'auth.json');
    await fs.writeFile(file, JSON.stringify({ writer: entry('s', ['spam.mails']) }));
    store = new JsonFileAuthStore(file);
    assert.deepEqual(await store.lookup('writer'), { ident: 'writer', owner: 'o', secret: 's', pubchans: ['spam.mails'], subchans: [] });
    assert.equal(await store.lookup('other'), undefined);
  });

  test('invalid files are rejected with the file and key named', async () => {
    const file = path.join(dir, 'auth.json');
    await fs.writeFile(file, JSON.stringify({ writer: { owner: 'o', secret: 's', pubchans: 'spam.mails', subchans: [] } }));
    assert.throws(() => readAuthFile(file), (e: Error) => e instanceof AuthConfigError && e.message.includes(file) && e.message.includes('writer.pubchans'));
    await fs.writeFile(file, '{"writer": ');
    assert.throws(() => readAuthFile(file), /not valid JSON/);
    assert.throws(() => readAuthFile(path.join(dir, 'missing.json')), /cannot read auth file/);
  });

  test('reloads on in-place writes and on rename-replace; a broken edit keeps the old database', async () => {
    const file = path.join(dir, 'auth.json');
    await fs.writeFile(file, JSON.stringify({ a: entry('1') }));
    store = new JsonFileAuthStore(file, { pollIntervalMs: 100 });

    let reloaded = once(store, 'reloaded');
    await fs.writeFile(file, JSON.stringify({ a: entry('2'), b: entry('3') }));
    await reloaded;
    assert.equal((await store.lookup('a'))?.secret, '2');
    assert.equal((await store.lookup('b'))?.secret, '3');

    reloaded = once(store, 'reloaded');
    const tmp = path.join(dir, 'auth.json.tmp');
    await fs.writeFile(tmp, JSON.stringify({ c: entry('4') }));
    await fs.rename(tmp, file);
    await reloaded;
    assert.equal(await store.lookup('a'), undefined);
    assert.equal((await store.lookup('c'))?.secret, '4');

    const failed = once(store, 'reload-failed');
    await fs.writeFile(file, '{ not json');
    const [err] = await failed;
    assert.ok(err instanceof AuthConfigError);
    assert.equal((await store.lookup('c'))?.secret, '4');
  });
});
