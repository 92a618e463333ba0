// `make test-swaks` against `make native-up`: the appliance started the way a user starts it (its own
// state directory and free ports), then scripts/test-swaks.sh must pass every case; with a wrong expected
// client address it must fail, which shows its checks compare real values. `make native-down` after.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from './helpers/paths.js';
import { freePorts } from './helpers/ports.js';

const run = promisify(execFile);

interface Outcome {
  code: number;
  output: string;
}

/** Runs a command from the repository root; resolves with its exit code and output, whatever it is. */
async function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: REPO, env, timeout: timeoutMs, maxBuffer: 16 << 20 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('make test-swaks against make native-up', { skip: process.getuid?.() !== 0 && 'native-up needs root' }, () => {
  let nativeDir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    nativeDir = await mkdtemp(join(tmpdir(), 'test-swaks-native-'));
    // mkdtemp makes it 0700; Postfix's unprivileged services must be able to reach the queue below it.
    await chmod(nativeDir, 0o755);
    const [smtp, submission, smtps, lmtp, hpfeeds, metrics] = await freePorts(6);
    env = {
      ...process.env,
      NATIVE_DIR: nativeDir,
      SMTP_PORT: String(smtp),
      SUBMISSION_PORT: String(submission),
      SMTPS_PORT: String(smtps),
      LMTP_PORT: String(lmtp),
      HPFEEDS_PORT: String(hpfeeds),
      CATCHALL_METRICS_PORT: String(metrics),
    };
    const up = await sh('make', ['--no-print-directory', 'native-up'], env, 120_000);
    assert.equal(up.code, 0, `make native-up failed:\n${up.output}`);
  });

  after(async () => {
    if (!nativeDir) return;
    const down = await sh('make', ['--no-print-directory', 'native-down'], env, 60_000);
    await rm(nativeDir, { recursive: true, force: true });
    assert.equal(down.code, 0, `make native-down failed:\n${down.output}`);
  });

  test('every case passes: ports 25/587/465 equivalents, multi-recipient, 8-bit, relay refused', async () => {
    const r = await sh('make', ['--no-print-directory', 'test-swaks'], env, 120_000);
    assert.equal(r.code, 0, `make test-swaks failed:\n${r.output}`);
    assert.match(r.output, /test-swaks: native appliance at 127\.0\.0\.1/);
    for (const name of ['smtp', 'starttls', 'smtps', 'multircpt', 'latin1', 'relay']) {
      assert.match(r.output, new RegExp(`^${name} .* pass$`, 'm'), `a passing row for ${name}`);
    }
    // Both brokers were read: the machine's RabbitMQ and native-up's hpfeeds broker.
    assert.match(r.output, /reading from: amqp hpfeeds/);
    assert.match(r.output, /^smtp .*bytes=sent, client 127\.0\.0\.1 .*bytes=sent, client 127\.0\.0\.1 .*pass$/m);
    assert.match(r.output, /^relay .*554 5\.7\.1/m);
    assert.match(r.output, /test-swaks: all 6 cases passed/);
  });

  test('a client address other than the sender is reported, and the run fails', async () => {
    const r = await sh('scripts/test-swaks.sh', [], { ...env, EXPECT_CLIENT_ADDRESS: '192.0.2.1' }, 120_000);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /FAIL smtp: amqp: client_address 127\.0\.0\.1, expected 192\.0\.2\.1/);
    assert.match(r.output, /FAIL smtp: hpfeeds: client_address 127\.0\.0\.1, expected 192\.0\.2\.1/);
    const kept = /swaks transcripts: (\S+)/.exec(r.output)?.[1];
    if (kept) await rm(kept, { recursive: true, force: true });
  });

  test('with raw payloads (no envelope over hpfeeds) the client address is checked in Received:, and the rows say WARN', async () => {
    const up = await sh('make', ['--no-print-directory', 'native-up'], { ...env, CATCHALL_FORMAT: 'raw' }, 120_000);
    assert.equal(up.code, 0, `make native-up (raw) failed:\n${up.output}`);
    const r = await sh('scripts/test-swaks.sh', [], env, 120_000);
    assert.equal(r.code, 0, r.output);
    for (const name of ['smtp', 'starttls', 'smtps', 'multircpt', 'latin1']) {
      assert.match(r.output, new RegExp(`^${name} .*client 127\\.0\\.0\\.1 \\(Received:\\).* WARN$`, 'm'), `a WARN row for ${name}`);
      assert.match(r.output, new RegExp(`^WARN ${name}: hpfeeds: the raw payload carries no envelope`, 'm'));
    }
    assert.match(r.output, /test-swaks: all 6 cases passed, 5 with warnings/);
    // And the address in Received: is really compared.
    const wrong = await sh('scripts/test-swaks.sh', [], { ...env, EXPECT_CLIENT_ADDRESS: '192.0.2.1' }, 120_000);
    assert.equal(wrong.code, 1, wrong.output);
    assert.match(wrong.output, /FAIL smtp: hpfeeds: raw payload without an envelope, and Postfix's Received: header names client 127\.0\.0\.1, expected 192\.0\.2\.1/);
    const kept = /swaks transcripts: (\S+)/.exec(wrong.output)?.[1];
    if (kept) await rm(kept, { recursive: true, force: true });
  });
});
