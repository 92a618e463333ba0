// The container's entrypoint, run here without a Docker engine, as docker-compose.yml runs the service:
// with the image's ENV, on a read-only root file system with the service's tmpfs mounts (a private
// mount namespace), and without a main.cf of the package's own in /etc/postfix, as in the image. Only
// the ports and the mounted directories (queue volume, relay_domains, certificates) differ. It renders
// the configuration into the tmpfs, serves with the watchers running, reports healthy through the
// image's HEALTHCHECK script, and a SIGTERM (docker stop) stops Postfix cleanly.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { POSTFIX_DIR, REPO } from './helpers/paths.js';
import { freePorts } from './helpers/ports.js';
import { claim, reapOrphans } from './helpers/reaper.js';
import { Service } from './helpers/service.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);

/**
 * Run as `unshare --mount ... bash -c CONTAINER_MOUNTS container DIR READ_ONLY TMPFS ENTRYPOINT LOG`:
 * the container's file system view, in a mount namespace of its own, then the entrypoint with its
 * output in LOG. DIR (queue, relay_domains, certificates, log) stays writable, as the volumes do.
 * /etc/postfix keeps the package's files but not this machine's main.cf and master.cf: the image has
 * none. /tmp is the one tmpfs left out (DIR is in it); it stays read-only, which is only stricter.
 */
const CONTAINER_MOUNTS = `set -euo pipefail
dir=$1 read_only=$2 tmpfs=$3 entrypoint=$4 log=$5
mount --bind "$dir" "$dir"
mkdir "$dir/etc-postfix"
mount --bind /etc/postfix "$dir/etc-postfix"
mount -t tmpfs -o mode=755 tmpfs /etc/postfix
for f in "$dir"/etc-postfix/*; do
  name=\${f##*/}
  case $name in main.cf | master.cf) continue ;; esac
  if [[ -d $f ]]; then mkdir "/etc/postfix/$name"; else touch "/etc/postfix/$name"; fi
  mount --bind "$f" "/etc/postfix/$name"
  [[ $read_only != true ]] || mount -o remount,bind,ro "/etc/postfix/$name"
done
if [[ $read_only == true ]]; then
  mount -o remount,ro /etc/postfix
  mount -o remount,bind,ro /
fi
for spec in $tmpfs; do
  target=\${spec%%:*} options=
  [[ $spec != *:* ]] || options=\${spec#*:}
  [[ $target != /tmp ]] || continue
  # Docker creates a missing mount point in the container's own root; here a tmpfs on its parent does.
  [[ -d $target ]] || { mount -t tmpfs tmpfs "\${target%/*}"; mkdir "$target"; }
  mount -t tmpfs \${options:+-o "$options"} tmpfs "$target"
done
# Appending, as to the pipe docker gives a container: Postfix's log writer reopens /dev/stdout, and on a
# file opened with ">" its writes would start at offset 0, over the entrypoint's own lines.
exec "$entrypoint" >>"$log" 2>&1`;

/** ENV of a Dockerfile (KEY=VALUE forms). */
async function imageEnv(dockerfile: string): Promise<Record<string, string>> {
  const text = (await fs.readFile(dockerfile, 'utf8')).replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const [, body] of text.matchAll(/^ENV\s+(.*)$/gm)) for (const [, k, v] of body!.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
  return env;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function stopPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await eventually(`process ${pid} to exit`, () => !alive(pid), 10_000).catch(() => process.kill(pid, 'SIGKILL'));
}

describe('container entrypoint (postfix start-fg as PID 1)', () => {
  let dir: string;
  let entrypoint: Service;
  let env: Record<string, string>;
  let logFile: string;
  let service: { read_only?: boolean; tmpfs?: string[] };
  const log = () => fs.readFile(logFile, 'utf8').catch(() => '');
  const healthcheck = (...args: string[]) => run(path.join(POSTFIX_DIR, 'healthcheck.sh'), args, { env: { ...process.env, ...env } }).then(() => true, () => false);

  before(async () => {
    await reapOrphans();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-postfix-'));
    await claim(dir);
    await fs.chmod(dir, 0o755);
    await fs.writeFile(path.join(dir, 'relay_domains'), 'trap-e2e.test OK\n');
    const [smtp, submission, smtps, lmtp] = (await freePorts(4)) as [number, number, number, number];
    service = YAML.parse(await fs.readFile(path.join(REPO, 'docker-compose.yml'), 'utf8')).services.postfix;
    env = {
      ...(await imageEnv(path.join(POSTFIX_DIR, 'Dockerfile'))),
      // What the compose file mounts: the queue volume, relay_domains, the certificates.
      POSTFIX_QUEUE_DIR: path.join(dir, 'queue'),
      RELAY_DOMAINS_FILE: path.join(dir, 'relay_domains'),
      CERTS_DIR: path.join(dir, 'certs'),
      LETSENCRYPT_DIR: path.join(dir, 'letsencrypt'),
      LISTEN_ADDRESS: 'loopback-only',
      INET_PROTOCOLS: 'ipv4',
      MAIL_HOSTNAME: 'mx.trap-e2e.test',
      SMTP_PORT: String(smtp),
      SUBMISSION_PORT: String(submission),
      SMTPS_PORT: String(smtps),
      LMTP_HOST: '127.0.0.1',
      LMTP_PORT: String(lmtp),
    };
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('POSTFIX_')));
    const tmpfs: string[] = (service.tmpfs ?? []).map(String);
    // Its stdout is a file, as Docker's is a pipe: Postfix logs to /dev/stdout, which cannot be opened
    // when it is a socket (what Node gives a child for 'pipe').
    logFile = path.join(dir, 'container.log');
    entrypoint = Service.start('entrypoint.sh', 'unshare', ['--mount', '--propagation', 'private', 'bash', '-c', CONTAINER_MOUNTS,
      'container', dir, String(service.read_only === true), tmpfs.join(' '), path.join(POSTFIX_DIR, 'entrypoint.sh'), logFile], { ...base, ...env }, dir);
  });
  after(async () => {
    await entrypoint?.stop(5_000);
    // Its configuration is visible inside its mount namespace only: stop a master left behind by its pid.
    const master = Number(await fs.readFile(path.join(env.POSTFIX_QUEUE_DIR!, 'pid/master.pid'), 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(master)) await stopPid(master);
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('it serves: the HEALTHCHECK script sees the banner on 25 and 465, and trap mail is accepted', async () => {
    await eventually('the healthcheck to pass', () => healthcheck(), 20_000, 200);
    assert.ok(await healthcheck('127.0.0.1', env.SMTPS_PORT!, '--tls'), 'implicit TLS port greets');
    assert.match(await log(), /postfix\/master\[\d+\]: daemon started/, 'Postfix logs to stdout');
    assert.ok(!/postfix-script\[\d+\]: (warning|fatal)/.test(await log()), `postfix start had no complaint:\n${await log()}`);
    // It really ran as the compose file says: read-only root, configuration rendered into the tmpfs.
    assert.equal(service.read_only, true, 'the postfix service is read_only');
    const mounts = (await fs.readFile(`/proc/${entrypoint.pid}/mountinfo`, 'utf8')).split('\n').map((l) => l.split(' '));
    assert.match(mounts.find((m) => m[4] === '/')?.[5] ?? '', /^ro\b/, 'the root file system is read-only');
    assert.ok(mounts.some((m) => m[4] === path.dirname(env.POSTFIX_CONFIG_DIR!) && m.includes('tmpfs')), `a tmpfs holds ${env.POSTFIX_CONFIG_DIR}`);
    assert.match(await log(), new RegExp(`configuration ready in ${env.POSTFIX_CONFIG_DIR}`));
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
    const master = Number(await fs.readFile(path.join(env.POSTFIX_QUEUE_DIR!, 'pid/master.pid'), 'utf8'));
    assert.ok(alive(master), 'the master runs');
    entrypoint.signal('SIGTERM'); // to PID 1 only, as docker stop does
    assert.equal(await entrypoint.exitCode(), 0, (await log()).slice(-1500));
    assert.match(await log(), /stopping the Postfix mail system/);
    assert.equal(alive(master), false, 'the master is gone');
  });
});
