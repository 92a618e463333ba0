// One Postfix instance per test file, configured by the very scripts the container and native-up use
// (postfix/render.sh, the watchers), in a temp directory on free loopback ports. Tests in parallel
// never share a queue, a port or a config with each other or with a running `make native-up`.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { POSTFIX_DIR } from './paths.js';
import { freePorts, ipv6LoopbackAvailable } from './ports.js';
import { claim, reapOrphans } from './reaper.js';
import { Service } from './service.js';
import { eventually } from './wait.js';

const run = promisify(execFile);

export interface PostfixOptions {
  /** The collector's port (it need not be listening yet). */
  lmtpPort: number;
  relayDomains: string[];
  /** More environment for the render scripts, e.g. MESSAGE_SIZE_LIMIT or POSTFIX_<parameter>. */
  env?: Record<string, string>;
}

/** Short queue timers so a deferred message is retried within seconds (tests only). */
export const FAST_RETRY = {
  POSTFIX_queue_run_delay: '1s',
  POSTFIX_minimal_backoff_time: '1s',
  POSTFIX_maximal_backoff_time: '2s',
};

export interface QueueEntry {
  queue_id: string;
  queue_name: string;
  recipients: { address: string; delay_reason?: string }[];
}

export class PostfixInstance {
  private watchers: Service[] = [];

  private constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
    readonly smtpPort: number,
    readonly submissionPort: number,
    readonly smtpsPort: number,
    readonly ipv6: boolean,
  ) {}

  get configDir(): string {
    return this.env.POSTFIX_CONFIG_DIR!;
  }
  get relayDomainsFile(): string {
    return this.env.RELAY_DOMAINS_FILE!;
  }
  get certsDir(): string {
    return this.env.CERTS_DIR!;
  }

  static async start(opts: PostfixOptions): Promise<PostfixInstance> {
    await reapOrphans();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-postfix-'));
    await claim(dir);
    // Postfix's unprivileged processes must be able to reach the queue inside this directory.
    await fs.chmod(dir, 0o755);
    const [smtp, submission, smtps] = (await freePorts(3)) as [number, number, number];
    const ipv6 = await ipv6LoopbackAvailable();
    const env: Record<string, string> = {
      POSTFIX_CONFIG_DIR: path.join(dir, 'config'),
      POSTFIX_QUEUE_DIR: path.join(dir, 'queue'),
      POSTFIX_DATA_DIR: path.join(dir, 'data'),
      MAILLOG_FILE: path.join(dir, 'postfix.log'),
      RELAY_DOMAINS_FILE: path.join(dir, 'relay_domains'),
      CERTS_DIR: path.join(dir, 'certs'),
      LETSENCRYPT_DIR: path.join(dir, 'letsencrypt'),
      MAIL_HOSTNAME: 'mx.trap-e2e.test',
      LISTEN_ADDRESS: 'loopback-only',
      INET_PROTOCOLS: ipv6 ? 'all' : 'ipv4',
      SMTP_PORT: String(smtp),
      SUBMISSION_PORT: String(submission),
      SMTPS_PORT: String(smtps),
      LMTP_HOST: '127.0.0.1',
      LMTP_PORT: String(opts.lmtpPort),
      WATCH_INTERVAL: '1',
      ...opts.env,
    };
    const instance = new PostfixInstance(dir, env, smtp, submission, smtps, ipv6);
    try {
      await instance.writeRelayDomains(opts.relayDomains);
      await instance.exec('bash', [path.join(POSTFIX_DIR, 'render.sh')]);
      await instance.exec('postfix', ['-c', instance.configDir, 'start']);
      for (const watcher of ['watch-relay-domains.sh', 'watch-certs.sh']) {
        instance.watchers.push(Service.start(watcher, 'bash', [path.join(POSTFIX_DIR, 'scripts', watcher)], instance.childEnv()));
      }
      await eventually('the Postfix banner', () => instance.exec('bash', [path.join(POSTFIX_DIR, 'healthcheck.sh'), '127.0.0.1', String(smtp)]).then(() => true), 20_000, 200);
    } catch (err) {
      await instance.stop();
      throw err;
    }
    return instance;
  }

  /** The environment the scripts see: ours on top of the test process's, minus stray POSTFIX_ overrides. */
  private childEnv(): NodeJS.ProcessEnv {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('POSTFIX_')));
    return { ...base, ...this.env };
  }

  async exec(command: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await run(command, args, { env: this.childEnv(), timeout: 30_000 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
    }
  }

  /** Replaces the trap domain list the way an operator does: write the file, nothing else. */
  async writeRelayDomains(domains: string[]): Promise<void> {
    const tmp = `${this.relayDomainsFile}.tmp`;
    await fs.writeFile(tmp, domains.map((d) => `${d} OK\n`).join(''));
    await fs.rename(tmp, this.relayDomainsFile);
  }

  /** The master's PID: unchanged across a reload, new after a restart. */
  async masterPid(): Promise<number> {
    return Number((await fs.readFile(path.join(this.env.POSTFIX_QUEUE_DIR!, 'pid/master.pid'), 'utf8')).trim());
  }

  /** What the relay_domains and certificate watchers logged. */
  watcherLog(): string {
    return this.watchers.map((w) => w.log).join('');
  }

  async log(): Promise<string> {
    return fs.readFile(this.env.MAILLOG_FILE!, 'utf8').catch(() => '');
  }

  async waitForLog(what: string, pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    return eventually(`${what} in the Postfix log (${this.env.MAILLOG_FILE})`, async () => (await this.log()).match(pattern), ms);
  }

  /** Messages in this instance's queue (postqueue -j). */
  async queue(): Promise<QueueEntry[]> {
    const out = await this.exec('postqueue', ['-c', this.configDir, '-j']);
    return out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as QueueEntry);
  }

  /**
   * Every delivery attempt in the log, as "relay" values, and any sign of mail leaving the box: an
   * smtp client process or a non-delivery notice. The collector is the only allowed relay.
   */
  async outboundActivity(): Promise<{ relays: string[]; smtpClient: boolean; notices: boolean }> {
    const log = await this.log();
    const relays = [...log.matchAll(/ relay=([^,\s]+)/g)].map((m) => m[1]!);
    return {
      relays,
      smtpClient: /postfix\/(smtp|relay)\[\d+\]/.test(log),
      notices: /sender non-delivery notification|postmaster notification|delay notification/.test(log),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.stop(5_000)));
    this.watchers = [];
    await run('postfix', ['-c', this.configDir, 'stop'], { env: this.childEnv() }).catch(() => undefined);
    // `postfix stop` returns before the master has exited; wait until status says it is gone.
    await eventually('Postfix to stop', () => run('postfix', ['-c', this.configDir, 'status'], { env: this.childEnv() }).then(() => false, () => true), 15_000, 200)
      .catch(async (err: Error) => {
        await run('postfix', ['-c', this.configDir, 'abort'], { env: this.childEnv() }).catch(() => undefined);
        throw err;
      });
    if (!process.env.E2E_KEEP) await fs.rm(this.dir, { recursive: true, force: true });
  }
}
