// Configuration: the three seed formats parse unchanged, env and command line override, and every
// kind of bad input gets a message that names the key, the value and what was expected.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/config/errors.js';
import { loadConfig } from '../src/config/load.js';
import { README_PATH, updatedReadme } from '../src/config/docs.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'catchall-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
function file(text: string): string {
  const p = path.join(dir, `config-${n++}.yml`);
  writeFileSync(p, text);
  return p;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return err.message;
  }
  assert.fail('expected the config to be refused');
}

describe('seed formats, unchanged', () => {
  it('(a) the flat hpfeeds file of the Python collector, with YAML 1.1 10_000 and False', async () => {
    const f = file('broker: "10.0.0.10"\nport: 10_000\ntls: False\nidentity: "writer"\nsecret: "secret"\nchannels:\n  - "spam.mails"\n');
    const c = loadConfig({ file: f, env: {} });
    assert.deepEqual(c.sinks, [
      {
        type: 'hpfeeds',
        host: '10.0.0.10',
        port: 10000,
        ident: 'writer',
        secret: 'secret',
        channels: ['spam.mails'],
        tls: { enabled: false, verify: true },
        maxFrameSize: 1048581,
        errorGraceMs: 2000,
        format: 'json',
        reconnect: { initialDelayMs: 500, maxDelayMs: 30000 },
      },
    ]);
    assert.equal(c.lmtp.port, 24);
    assert.equal(c.lmtp.maxMessageSize, 10_240_000);
  });

  it('(a) the template variant with port 20_000 and tls: True', async () => {
    const f = file('broker: "localhost"\nport: 20_000\ntls: True\nidentity: "smtp-writer"\nsecret: "secret"\nchannels:\n  - "spam.mails"\n');
    const [sink] = loadConfig({ file: f, env: {} }).sinks;
    assert.equal(sink?.type, 'hpfeeds');
    assert.ok(sink?.type === 'hpfeeds' && sink.port === 20000 && sink.tls.enabled && sink.ident === 'smtp-writer');
  });

  const typed = `---  # Broker config
type: TYPE

# AMQP/Rabbitmq config
amqp:
  ident: reader
  secret: secret
  host: 0.0.0.0
  port: 5671
  vhost: "/"
  exchange: spam
  routing_key: "spam.mails"
  tls: True
  # Set this to false if using self-signed certs
  check_cert: False

# Hpfeeds config (in case \`type: hpfeeds' is set)
hpfeeds:
  ident: writer
  secret: secret
  host: 0.0.0.0 # Or use the Docker container's host name
  port: 10000
  tls: False
  channels:
    - spam.mails
`;

  it('(b) the typed file with type: amqp', async () => {
    const c = loadConfig({ file: file(typed.replace('TYPE', 'amqp')), env: {} });
    assert.equal(c.sinks.length, 1);
    const s = c.sinks[0]!;
    assert.ok(s.type === 'amqp');
    assert.deepEqual(
      { host: s.host, port: s.port, vhost: s.vhost, username: s.username, password: s.password, exchange: s.exchange, routingKey: s.routingKey, tls: s.tls },
      { host: '0.0.0.0', port: 5671, vhost: '/', username: 'reader', password: 'secret', exchange: 'spam', routingKey: 'spam.mails', tls: { enabled: true, verify: false } },
    );
    assert.equal(s.exchangeType, 'topic');
    assert.equal(s.exchangeDurable, false);
  });

  it('(b) the typed file with type: hpfeeds', async () => {
    const c = loadConfig({ file: file(typed.replace('TYPE', 'hpfeeds')), env: {} });
    const s = c.sinks[0]!;
    assert.ok(s.type === 'hpfeeds');
    assert.deepEqual([s.host, s.port, s.ident, s.channels, s.tls.enabled], ['0.0.0.0', 10000, 'writer', ['spam.mails'], false]);
  });

  it('(c) our sinks: list with every section', async () => {
    const f = file(`
lmtp: { host: 0.0.0.0, port: 2424, maxMessageSize: 5_000_000, maxRecipients: 50, useXForward: false }
format: raw
spool: { dir: /var/spool/catchall, retentionDays: 30 }
metrics: { port: 9200 }
sinks:
  - type: amqp
    url: amqp://writer:pw@rabbit:5672/
    format: json
  - type: hpfeeds
    host: hpfeeds
    ident: writer
    secret: s
    channels: [spam.mails, spam.raw]
  - type: maildir
    dir: /srv/archive
`);
    const c = loadConfig({ file: f, env: {} });
    assert.equal(c.lmtp.port, 2424);
    assert.equal(c.lmtp.useXForward, false);
    assert.equal(c.spool.dir, '/var/spool/catchall');
    assert.equal(c.spool.retentionDays, 30);
    assert.deepEqual(c.sinks.map((s) => s.type), ['amqp', 'hpfeeds', 'maildir']);
    assert.equal(c.sinks[0]!.type === 'amqp' && c.sinks[0]!.format, 'json', 'a sink keeps its own format');
    assert.equal(c.sinks[1]!.type === 'hpfeeds' && c.sinks[1]!.format, 'raw', 'the top-level format is the default');
  });
});

describe('environment and command line', () => {
  it('interpolates ${VAR} and ${VAR:-default}, converting numbers and booleans for typed keys', async () => {
    const f = file('lmtp:\n  port: ${LMTP_PORT:-2424}\n  useXForward: "${XF}"\nsinks:\n  - type: amqp\n    password: ${PW}\n    vhost: "/${VH:-spam}"\n    username: "$${literal}"\n');
    const c = loadConfig({ file: f, env: { PW: 's3cret', XF: 'no' } });
    assert.equal(c.lmtp.port, 2424);
    assert.equal(c.lmtp.useXForward, false);
    const s = c.sinks[0]!;
    assert.ok(s.type === 'amqp');
    assert.equal(s.password, 's3cret');
    assert.equal(s.vhost, '/spam');
    assert.equal(s.username, '${literal}');
  });

  it('a variable that is not set and has no default is an error naming key and variable', async () => {
    const f = file('sinks:\n  - type: amqp\n    password: ${AMQP_PW}\n');
    assert.match(errorOf(() => loadConfig({ file: f, env: {} })), /sinks\[0\]\.password: environment variable AMQP_PW is not set/);
  });

  it('builds sinks from the environment alone, and overrides the one sink of a type', async () => {
    const c = loadConfig({ env: { AMQP_URL: 'amqp://w:p@h:5673/v', AMQP_ROUTING_KEY: 'k', HPFEEDS_HOST: 'hp', HPFEEDS_IDENT: 'i', HPFEEDS_SECRET: 's', HPFEEDS_CHANNELS: 'a, b', CATCHALL_LMTP_PORT: '2525', CATCHALL_FORMAT: 'raw' } });
    assert.equal(c.lmtp.port, 2525);
    const [amqp, hp] = c.sinks;
    assert.ok(amqp?.type === 'amqp' && amqp.url === 'amqp://w:p@h:5673/v' && amqp.routingKey === 'k' && amqp.format === 'raw');
    assert.ok(hp?.type === 'hpfeeds' && hp.host === 'hp' && hp.channels.join() === 'a,b');

    const f = file('broker: b\nidentity: i\nsecret: from-file\nchannels: [c]\n');
    const o = loadConfig({ file: f, env: { HPFEEDS_SECRET: 'from-env', HPFEEDS_TLS: 'yes', AMQP_PASSWORD: '' } });
    assert.ok(o.sinks[0]?.type === 'hpfeeds' && o.sinks[0].secret === 'from-env' && o.sinks[0].tls.enabled);
    assert.equal(o.sinks.length, 1, 'an empty variable counts as unset');
  });

  it('reaches settings beyond the basic ones: exchange, timeouts, frame limit, reconnect, LMTP and spool', () => {
    const c = loadConfig({
      env: {
        AMQP_HOST: 'rabbit',
        AMQP_EXCHANGE_TYPE: 'fanout',
        AMQP_EXCHANGE_DURABLE: 'yes',
        AMQP_DECLARE_EXCHANGE: 'false',
        AMQP_CONFIRM_TIMEOUT_MS: '2500',
        AMQP_RECONNECT_MAX_DELAY_MS: '9000',
        HPFEEDS_HOST: 'hp',
        HPFEEDS_IDENT: 'i',
        HPFEEDS_SECRET: 's',
        HPFEEDS_CHANNELS: 'c',
        HPFEEDS_MAX_FRAME_SIZE: '16777216',
        HPFEEDS_ERROR_GRACE_MS: '5000',
        CATCHALL_LMTP_HOSTNAME: 'trap.example',
        CATCHALL_SPOOL_REPLAY_INTERVAL_MS: '1000',
        CATCHALL_SPOOL_FORWARD_CONCURRENCY: '4',
      },
    });
    const [amqp, hp] = c.sinks;
    assert.ok(amqp?.type === 'amqp');
    assert.deepEqual(
      [amqp.exchangeType, amqp.exchangeDurable, amqp.declareExchange, amqp.confirmTimeoutMs, amqp.reconnect],
      ['fanout', true, false, 2500, { initialDelayMs: 500, maxDelayMs: 9000 }],
    );
    assert.ok(hp?.type === 'hpfeeds');
    assert.deepEqual([hp.maxFrameSize, hp.errorGraceMs], [16777216, 5000]);
    assert.equal(c.lmtp.hostname, 'trap.example');
    assert.deepEqual([c.spool.replayIntervalMs, c.spool.forwardConcurrency], [1000, 4]);
    // A value that is wrong names its variable.
    assert.match(errorOf(() => loadConfig({ env: { AMQP_HOST: 'h', AMQP_EXCHANGE_TYPE: 'round-robin' } })), /sinks\[0\]\.exchangeType: .*"round-robin" \(from environment variable AMQP_EXCHANGE_TYPE\)/);
  });

  it('applies a tuning variable to every sink of its type, and ignores it when there is none', () => {
    const two = file('sinks:\n  - { type: hpfeeds, host: a, ident: i, secret: s, channels: [c] }\n  - { type: hpfeeds, host: b, ident: i, secret: s, channels: [c], maxFrameSize: 100 }\n  - { type: amqp }\n');
    const c = loadConfig({ file: two, env: { HPFEEDS_MAX_FRAME_SIZE: '16777216', HPFEEDS_RECONNECT_INITIAL_DELAY_MS: '50' } });
    assert.deepEqual(c.sinks.map((s) => (s.type === 'hpfeeds' ? [s.maxFrameSize, s.reconnect.initialDelayMs] : s.type)), [[16777216, 50], [16777216, 50], 'amqp']);
    // docker-compose always passes HPFEEDS_MAX_FRAME_SIZE: without an hpfeeds sink it must not refuse to start.
    const amqpOnly = loadConfig({ env: { AMQP_HOST: 'rabbit', HPFEEDS_MAX_FRAME_SIZE: '16777216', HPFEEDS_FORMAT: 'raw' } });
    assert.deepEqual(amqpOnly.sinks.map((s) => s.type), ['amqp']);
  });

  it('command-line options win over the environment and the file', async () => {
    const f = file('lmtp: { port: 1 }\nspool: { dir: /from/file }\n');
    const c = loadConfig({ file: f, env: { CATCHALL_LMTP_PORT: '2' }, overrides: { 'lmtp.port': '3', 'spool.dir': '/from/cli' } });
    assert.equal(c.lmtp.port, 3);
    assert.equal(c.spool.dir, '/from/cli');
  });
});

describe('bad configuration', () => {
  it('names key, value and expectation for wrong types, ranges and unknown keys', async () => {
    const f = file('lmtp: { port: 70000, maxMessageSize: lots }\nformat: xml\nsinks:\n  - type: amqp\n    rounting_key: x\n    tls: { enabled: maybe }\n');
    const msg = errorOf(() => loadConfig({ file: f, env: {} }));
    assert.match(msg, /lmtp\.port: Too big: expected number to be <=65535; got 70000/);
    assert.match(msg, /lmtp\.maxMessageSize: expected number, received string; got "lots"/);
    assert.match(msg, /format: expected one of "json"\|"raw"; got "xml"/);
    assert.match(msg, /sinks\[0\]: unknown key "rounting_key"/);
    assert.match(msg, /sinks\[0\]\.tls\.enabled: expected boolean, received string; got "maybe"/);
    const kind = errorOf(() => loadConfig({ file: file('sinks:\n  - type: kafka\n'), env: {} }));
    assert.match(kind, /sinks\[0\]\.type: expected one of 'amqp' \| 'hpfeeds' \| 'maildir'; got "kafka"/);
  });

  it('names missing required keys of each seed format, in the seed format', async () => {
    const flat = errorOf(() => loadConfig({ file: file('broker: x\nport: 10_000\n'), env: {} }));
    assert.match(flat, /flat hpfeeds format/);
    assert.match(flat, /identity: expected string, received undefined; missing/);
    assert.match(flat, /channels: expected array, received undefined; missing/);
    const typed = errorOf(() => loadConfig({ file: file('type: amqp\namqp:\n  port: five\n'), env: {} }));
    assert.match(typed, /amqp\.port: expected number, received string; got "five"/);
    const typedKind = errorOf(() => loadConfig({ file: file('type: smtp\n'), env: {} }));
    assert.match(typedKind, /type: expected one of 'amqp' \| 'hpfeeds'/);
  });

  it('masks secrets in messages', async () => {
    const msg = errorOf(() => loadConfig({ file: file('sinks:\n  - type: amqp\n    password: 12345\n'), env: {} }));
    assert.match(msg, /sinks\[0\]\.password: expected string, received number; got \*\*\*/);
    assert.doesNotMatch(msg, /12345/);
  });

  it('names the variable when a value from the environment is wrong', () => {
    const msg = errorOf(() => loadConfig({ env: { AMQP_HOST: 'h', AMQP_PORT: 'fivesixseven' } }));
    assert.match(msg, /sinks\[0\]\.port: .*got "fivesixseven" \(from environment variable AMQP_PORT\)/);
  });

  it('refuses ambiguous sink variables, orphan sink variables, YAML errors, missing files and no destination', async () => {
    const two = file('sinks:\n  - { type: amqp, host: a }\n  - { type: amqp, host: b }\n');
    assert.match(errorOf(() => loadConfig({ file: two, env: { AMQP_PASSWORD: 'x' } })), /AMQP_PASSWORD set, but the config has 2 amqp sinks/);
    assert.match(errorOf(() => loadConfig({ env: { HPFEEDS_SECRET: 'x' } })), /no hpfeeds sink in the config; set HPFEEDS_HOST/);
    assert.match(errorOf(() => loadConfig({ file: file('lmtp: [unclosed\n'), env: {} })), /is not valid YAML/);
    assert.match(errorOf(() => loadConfig({ file: file('- just\n- a list\n'), env: {} })), /expected a mapping of settings at the top level/);
    assert.match(errorOf(() => loadConfig({ file: path.join(dir, 'missing.yml'), env: {} })), /cannot read config file .*missing\.yml/);
    assert.match(errorOf(() => loadConfig({ env: {} })), /no destination configured/);
  });
});

describe('README config table', () => {
  it('is generated from the schema and up to date (npm run -w catchall-lmtp docs:config)', async () => {
    const readme = await readFile(README_PATH, 'utf8');
    assert.equal(readme, updatedReadme(readme), 'README.md is stale: run npm run -w catchall-lmtp docs:config');
    assert.match(readme, /`lmtp\.maxMessageSize` \| integer ≥ 1 \| `10240000`/);
  });
});
