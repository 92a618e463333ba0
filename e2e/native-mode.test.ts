// scripts/native-up.sh and native-down.sh as a user runs them (own state directory, free ports, an
// exchange and queue of its own on the machine's RabbitMQ): trap mail reaches both brokers,
// `make reload` applies relay_domains, native-down leaves nothing running and can be repeated, and a
// part that cannot come up is named and everything else is stopped again.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { HpfeedsClient } from 'catchall-lmtp/hpfeeds';
import { assertIntact, trapMessage } from './helpers/appliance.js';
import { AMQP_URL } from './helpers/brokers.js';
import { decodePayload, type Delivered } from './helpers/payload.js';
import { REPO } from './helpers/paths.js';
import { freePorts } from './helpers/ports.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);
const TRAP = 'trap.example'; // the domain in postfix/config/relay_domains, which native mode serves

interface Outcome {
  code: number;
  output: string;
}
async function script(name: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return run(path.join(REPO, 'scripts', name), [], { env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }),
  );
}

/** Environment for one native instance: its own state directory, ports and RabbitMQ names. */
async function nativeEnv(): Promise<NodeJS.ProcessEnv> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-native-'));
  const [smtp, submission, smtps, lmtp, hpfeeds, metrics] = (await freePorts(6)).map(String);
  const id = randomUUID();
  // A copy of the trap domain list, so a test can edit it.
  await fs.copyFile(path.join(REPO, 'postfix/config/relay_domains'), path.join(dir, 'relay_domains'));
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(POSTFIX|AMQP|HPFEEDS|CATCHALL)_/.test(k)));
  return {
    ...inherited,
    NATIVE_DIR: dir,
    SMTP_PORT: smtp, SUBMISSION_PORT: submission, SMTPS_PORT: smtps, LMTP_PORT: lmtp, HPFEEDS_PORT: hpfeeds,
    CATCHALL_METRICS_PORT: metrics,
    AMQP_EXCHANGE: `e2e-${id}`, AMQP_QUEUE: `e2e-${id}.mails`,
    RELAY_DOMAINS_FILE: path.join(dir, 'relay_domains'),
  };
}

/** native-down, then the exchange and queue native-up declared, then the state directory. */
async function cleanUp(env: NodeJS.ProcessEnv) {
  await script('native-down.sh', env);
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(env.AMQP_QUEUE!);
    await ch.deleteExchange(env.AMQP_EXCHANGE!);
  } finally {
    await conn.close();
  }
  await fs.rm(env.NATIVE_DIR!, { recursive: true, force: true });
}

/** Nothing runs from the state directory any more: no pid files left, Postfix stopped. */
async function assertNothingRunning(env: NodeJS.ProcessEnv) {
  const dir = env.NATIVE_DIR!;
  const pids = await fs.readdir(path.join(dir, 'run')).catch(() => []);
  assert.deepEqual(pids, [], 'no pid files left');
  await assert.rejects(run('postfix', ['-c', path.join(dir, 'postfix'), 'status']), 'Postfix is stopped');
  const registered = (await run('postconf', ['-h', 'alternate_config_directories'])).stdout;
  assert.ok(!registered.includes(path.join(dir, 'postfix')), 'the instance is no longer registered in /etc/postfix/main.cf');
}

describe('native mode: native-up, reload, native-down', () => {
  let env: NodeJS.ProcessEnv;
  let amqpConn: amqp.ChannelModel | undefined;
  let hpfeeds: HpfeedsClient | undefined;
  const amqpGot: Delivered[] = [];
  const hpfeedsGot: Delivered[] = [];

  /** Both copies of the message carrying `token`, once both brokers have it. */
  const atBothBrokers = (token: string, ms?: number) => {
    const has = (d: Delivered) => d.bytes.includes(token);
    return eventually('the message at both brokers', () => {
      const pair = [hpfeedsGot.find(has), amqpGot.find(has)];
      return pair[0] && pair[1] ? (pair as [Delivered, Delivered]) : undefined;
    }, ms);
  };

  before(async () => {
    env = await nativeEnv();
    const up = await script('native-up.sh', env);
    assert.equal(up.code, 0, up.output);
    assert.match(up.output, /native-up: ready/);
    // What native-up wrote down for other tools: the hpfeeds reader's secret and the frame limit.
    const recorded = await fs.readFile(path.join(env.NATIVE_DIR!, 'native.env'), 'utf8');
    const secret = /^export HPFEEDS_READER_SECRET=(\S+)$/m.exec(recorded)?.[1];
    const maxFrameSize = Number(/^export HPFEEDS_MAX_FRAME_SIZE=(\d+)$/m.exec(recorded)?.[1]);
    assert.ok(secret, 'native.env records the reader secret');
    assert.ok(maxFrameSize > 2_000_000, `native.env records a frame limit above 2 MB (${maxFrameSize})`);
    hpfeeds = new HpfeedsClient({ host: '127.0.0.1', port: Number(env.HPFEEDS_PORT), ident: 'reader', secret, maxFrameSize, reconnect: false });
    hpfeeds.on('message', (m: { payload: Buffer }) => hpfeedsGot.push(decodePayload(m.payload)));
    hpfeeds.subscribe('spam.mails');
    await hpfeeds.connect();
    amqpConn = await amqp.connect(AMQP_URL);
    const ch = await amqpConn.createChannel();
    await ch.consume(env.AMQP_QUEUE!, (m) => m && amqpGot.push(decodePayload(m.content)), { noAck: true });
  });
  after(async () => {
    await hpfeeds?.close();
    await amqpConn?.close().catch(() => undefined);
    await cleanUp(env);
  });

  test('trap mail to the native ports reaches the hpfeeds broker and RabbitMQ, intact', async () => {
    const { token, data } = trapMessage(undefined, undefined, `native@${TRAP}`);
    await sendEmail({ port: Number(env.SMTPS_PORT), tls: 'implicit', to: `native@${TRAP}`, data });
    const [fromHpfeeds, fromAmqp] = await atBothBrokers(token);
    assertIntact(fromHpfeeds, data, /by \S+ \(Postfix\)/);
    assertIntact(fromAmqp, data, /by \S+ \(Postfix\)/);
  });

  test('a 1.5 MB 8-bit message reaches hpfeeds intact: its base64 JSON frame is over the reference 1 MiB', async () => {
    // Latin-1, so the payload is base64 (~2 MB): the broker, the collector and the reader all must
    // take frames that large, as native-up configures them.
    const line = Buffer.from(`${'caf\xe9 na\xefve \xa9 '.repeat(5).slice(0, 74)}\r\n`, 'latin1');
    const { token, data } = trapMessage(undefined, '', `big@${TRAP}`);
    const sent = Buffer.concat([data, ...Array<Buffer>(Math.ceil(1_500_000 / line.length)).fill(line)]);
    await sendEmail({ port: Number(env.SMTP_PORT), to: `big@${TRAP}`, data: sent });
    const [fromHpfeeds, fromAmqp] = await atBothBrokers(token, 30_000);
    assert.ok(fromHpfeeds.bytes.length > 1_500_000);
    assertIntact(fromHpfeeds, sent, /by \S+ \(Postfix\)/);
    assertIntact(fromAmqp, sent, /by \S+ \(Postfix\)/);
  });

  test('make reload applies an edited relay_domains at once', async () => {
    const added = `reload-${Date.now()}.test`;
    await fs.appendFile(env.RELAY_DOMAINS_FILE!, `${added} OK\n`);
    const reload = await script('reload.sh', env);
    assert.equal(reload.code, 0, reload.output);
    await sendEmail({ port: Number(env.SMTP_PORT), to: `x@${added}`, quitAfter: 'RCPT' });
  });

  test('native-down stops everything and can run again', async () => {
    const down = await script('native-down.sh', env);
    assert.equal(down.code, 0, down.output);
    assert.match(down.output, /stopped postfix/);
    await assertNothingRunning(env);
    const again = await script('native-down.sh', env);
    assert.equal(again.code, 0, again.output);
  });
});

describe('native mode: what does not come up is named, and nothing is left running', () => {
  test('a port already in use is refused before anything starts', async () => {
    const env = await nativeEnv();
    const squatter = net.createServer().listen(Number(env.LMTP_PORT), '127.0.0.1');
    try {
      const up = await script('native-up.sh', env);
      assert.notEqual(up.code, 0);
      assert.match(up.output, new RegExp(`port ${env.LMTP_PORT} \\(LMTP_PORT\\) is already in use`));
      await assertNothingRunning(env);
    } finally {
      squatter.close();
      await cleanUp(env);
    }
  });

  test('a collector that cannot start is named with its log, and the rest is stopped again', async () => {
    const env: NodeJS.ProcessEnv = { ...(await nativeEnv()), CATCHALL_CONFIG: '/nonexistent/collector.yml' };
    try {
      const up = await script('native-up.sh', env);
      assert.notEqual(up.code, 0);
      assert.match(up.output, /catchall-lmtp .*exited during start-up; the end of .*catchall-lmtp\.log/);
      assert.match(up.output, /\/nonexistent\/collector\.yml/, "the collector's own error is shown");
      await assertNothingRunning(env);
    } finally {
      await cleanUp(env);
    }
  });

  test('native-down with no state directory is a no-op', async () => {
    const down = await script('native-down.sh', { ...process.env, NATIVE_DIR: path.join(os.tmpdir(), `e2e-native-none-${randomUUID()}`) });
    assert.equal(down.code, 0, down.output);
  });
});
