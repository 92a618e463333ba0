// The container's entrypoint, run here without a Docker engine (only the directories and ports differ,
// through the environment): it renders the configuration, serves with the watchers running, reports
// healthy through the image's HEALTHCHECK script, and a SIGTERM (docker stop) stops Postfix cleanly.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { POSTFIX_DIR } from './helpers/paths.js';
import { freePorts } from './helpers/ports.js';
import { claim, reapOrphans } from './helpers/reaper.js';
import { Service } from './helpers/service.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);

describe('container entrypoint (postfix start-fg as PID 1)', () => {
  let dir: string;
  let entrypoint: Service;
  let env: Record<string, string>;
  let logFile: string;
  const log = () => fs.readFile(logFile, 'utf8').catch(() => '');
  const healthcheck = (...args: string[]) => run(path.join(POSTFIX_DIR, 'healthcheck.sh'), args, { env: { ...process.env, ...env } }).then(() => true, () => false);

  before(async () => {
    await reapOrphans();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-postfix-'));
    await claim(dir);
    await fs.chmod(dir, 0o755);
    await fs.writeFile(path.join(dir, 'relay_domains'), 'trap-e2e.test OK\n');
    const [smtp, submission, smtps, lmtp] = (await freePorts(4)) as [number, number, number, number];
    env = {
      POSTFIX_CONFIG_DIR: path.join(dir, 'config'),
      POSTFIX_QUEUE_DIR: path.join(dir, 'queue'),
      POSTFIX_DATA_DIR: path.join(dir, 'data'),
      RELAY_DOMAINS_FILE: path.join(dir, 'relay_domains'),
      CERTS_DIR: path.join(dir, 'certs'),
      LISTEN_ADDRESS: 'loopback-only',
      INET_PROTOCOLS: 'ipv4',
      MAIL_HOSTNAME: 'mx.trap-e2e.test',
      SMTP_PORT: String(smtp),
      SUBMISSION_PORT: String(submission),
      SMTPS_PORT: String(smtps),
      LMTP_PORT: String(lmtp),
    };
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('POSTFIX_')));
    // Its stdout is a file, as Docker's is a pipe: Postfix logs to /dev/stdout, which cannot be opened
    // when it is a socket (what Node gives a child for 'pipe').
    logFile = path.join(dir, 'container.log');
    entrypoint = Service.start('entrypoint.sh', 'bash', ['-c', 'exec "$0" >"$1" 2>&1', path.join(POSTFIX_DIR, 'entrypoint.sh'), logFile], { ...base, ...env }, dir);
  });
  after(async () => {
    await entrypoint?.stop(5_000);
    await run('postfix', ['-c', env.POSTFIX_CONFIG_DIR!, 'stop']).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('it serves: the HEALTHCHECK script sees the banner on 25 and 465, and trap mail is accepted', async () => {
    await eventually('the healthcheck to pass', () => healthcheck(), 20_000, 200);
    assert.ok(await healthcheck('127.0.0.1', env.SMTPS_PORT!, '--tls'), 'implicit TLS port greets');
    assert.match(await log(), /postfix\/master\[\d+\]: daemon started/, 'Postfix logs to stdout');
    await sendEmail({ port: Number(env.SMTP_PORT), to: 'someone@trap-e2e.test', quitAfter: 'RCPT' });
    await sendEmail({ port: Number(env.SMTP_PORT), to: 'someone@example.com', quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1/ });
  });

  test('the healthcheck fails where nothing listens, where the server never greets, and on a 554 greeting', async () => {
    const serve = async (onConnection: (socket: net.Socket) => void) => {
      const server = net.createServer(onConnection);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    };
    const silent = await serve(() => {}); // accepts, then says nothing: a wedged smtpd
    const refusing = await serve((socket) => socket.end('554 5.3.2 mx.trap-e2e.test service unavailable\r\n'));
    try {
      const port = (server: net.Server) => String((server.address() as net.AddressInfo).port);
      const [nothing, neverGreets, greets554] = await Promise.all([
        healthcheck('127.0.0.1', env.LMTP_PORT!),
        healthcheck('127.0.0.1', port(silent)),
        healthcheck('127.0.0.1', port(refusing)),
      ]);
      assert.equal(nothing, false, 'nothing listening');
      assert.equal(neverGreets, false, 'a connection accepted, but no banner');
      assert.equal(greets554, false, 'a 554 banner');
    } finally {
      silent.close();
      refusing.close();
    }
  });

  test('SIGTERM stops Postfix cleanly and the entrypoint exits 0', async () => {
    entrypoint.signal('SIGTERM'); // to PID 1 only, as docker stop does
    assert.equal(await entrypoint.exitCode(), 0, (await log()).slice(-1500));
    assert.match(await log(), /stopping the Postfix mail system/);
    await assert.rejects(run('postfix', ['-c', env.POSTFIX_CONFIG_DIR!, 'status']), 'the master is gone');
  });
});
