// A real Dovecot for the tests: a throw-away config, passwd-file users and maildirs in a temp dir,
// a self-signed certificate, IMAP (STARTTLS) and IMAPS on free loopback ports. Nothing of the
// system installation is touched; stop() kills the instance and deletes the directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
// Dovecot cannot bind port 0 and report it, so it gets ports picked the way the end-to-end tests do.
import { freePorts } from '../../../e2e/helpers/ports.js';

const run = promisify(execFile);
const MAIL_UID = 8; // Debian's "mail" user owns the maildirs; Dovecot refuses to run mail processes as root

export interface DovecotUser {
  name: string;
  password: string;
}

export interface StoredMessage {
  uid: number;
  flags: Set<string>;
  source: Buffer;
}

export class Dovecot {
  private constructor(
    readonly dir: string,
    readonly imapPort: number,
    readonly imapsPort: number,
    private readonly process: ChildProcess,
    private readonly users: Map<string, string>,
  ) {}

  /** `idle: false` / `uidplus: false`: a server that does not offer IDLE / UIDPLUS (RFC 4315). */
  static async start(users: DovecotUser[], options: { idle?: boolean; uidplus?: boolean } = {}): Promise<Dovecot> {
    const dir = await mkdtemp(path.join(tmpdir(), 'dovecot-'));
    try {
      await chmod(dir, 0o755); // Dovecot's unprivileged processes must reach their sockets and the maildirs
      await Promise.all(['run', 'state', 'home'].map((d) => mkdir(path.join(dir, d))));
      await chown(path.join(dir, 'home'), MAIL_UID, MAIL_UID);
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ]);
      await writeFile(path.join(dir, 'passwd'), users.map((u) => `${u.name}:{PLAIN}${u.password}::::\n`).join(''));
      const [imapPort, imapsPort] = await freePorts(2);
      await writeFile(path.join(dir, 'dovecot.conf'), config(dir, imapPort!, imapsPort!, { idle: options.idle ?? true, uidplus: options.uidplus ?? true }));
      const child = spawn('dovecot', ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // If the test process ends without stop() (a crash, a runner timeout), Dovecot must not outlive it.
      const killOnExit = () => child.kill('SIGKILL');
      process.once('exit', killOnExit);
      child.once('exit', () => process.off('exit', killOnExit));
      const dovecot = new Dovecot(dir, imapPort!, imapsPort!, child, new Map(users.map((u) => [u.name, u.password])));
      await waitForPort(imapPort!, 10_000, () => (child.exitCode !== null ? `dovecot exited: ${stderr}` : undefined));
      return dovecot;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get certFile(): string {
    return path.join(this.dir, 'cert.pem');
  }

  async log(): Promise<string> {
    return readFile(path.join(this.dir, 'dovecot.log'), 'utf8').catch(() => '');
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null) {
      const exited = new Promise((resolve) => this.process.once('exit', resolve));
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** A plain test-side IMAP client (STARTTLS, certificate not checked) for putting and inspecting mail. */
  async client(user: string): Promise<ImapFlow> {
    const client = new ImapFlow({
      host: '127.0.0.1',
      port: this.imapPort,
      secure: false,
      doSTARTTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user, pass: this.users.get(user) ?? '' },
      logger: false,
      disableBinary: true,
    });
    client.on('error', () => {}); // a test's own client: failures surface through the awaited calls
    await client.connect();
    return client;
  }

  /** Delivers messages into a user's mailbox with IMAP APPEND; returns their UIDs. */
  /** `date` becomes the messages' INTERNALDATE (the server's own arrival time otherwise). */
  async append(user: string, messages: Buffer[], options: { mailbox?: string; flags?: string[]; date?: Date } = {}): Promise<number[]> {
    const client = await this.client(user);
    try {
      const mailbox = options.mailbox ?? 'INBOX';
      if (mailbox !== 'INBOX') await client.mailboxCreate(mailbox).catch(() => undefined);
      const uids: number[] = [];
      for (const m of messages) {
        const r = await client.append(mailbox, m, options.flags ?? [], options.date);
        if (!r || r.uid === undefined) throw new Error('APPEND returned no UID');
        uids.push(r.uid);
      }
      return uids;
    } finally {
      await client.logout();
    }
  }

  /** What the server holds: every message with its flags and exact bytes, by UID. */
  async messages(user: string, mailbox = 'INBOX'): Promise<StoredMessage[]> {
    const client = await this.client(user);
    try {
      const lock = await client.getMailboxLock(mailbox);
      try {
        if (!client.mailbox || client.mailbox.exists === 0) return [];
        const out: StoredMessage[] = [];
        for await (const m of client.fetch('1:*', { uid: true, flags: true, source: true })) {
          out.push({ uid: m.uid, flags: m.flags ?? new Set(), source: m.source ?? Buffer.alloc(0) });
        }
        return out.sort((a, b) => a.uid - b.uid);
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  }
}

function config(dir: string, imapPort: number, imapsPort: number, offer: { idle: boolean; uidplus: boolean }): string {
  // Dovecot's capability list is replaced as a whole; this is a minimal one without what is switched off.
  const capabilities = ['IMAP4rev1', 'LITERAL+', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'ENABLE', ...(offer.idle ? ['IDLE'] : []), ...(offer.uidplus ? ['UIDPLUS'] : [])];
  return `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
# The "tls: none" case needs cleartext logins on loopback.
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${dir}/home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = ${MAIL_UID}
first_valid_gid = ${MAIL_UID}
default_login_user = dovenull
default_internal_user = dovecot
# Failed logins are answered at once (default 2 s), and there is no auth penalty, which would delay
# every later login from 127.0.0.1 by up to 15 s after one failure (Dovecot's documented way to turn
# it off: the auth process cannot reach anvil's penalty socket).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${offer.idle && offer.uidplus ? '' : `imap_capability = ${capabilities.join(' ')}\n`}service imap-login {
  inet_listener imap {
    port = ${imapPort}
  }
  inet_listener imaps {
    port = ${imapsPort}
    ssl = yes
  }
}
`;
}

async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = failed();
    if (reason) throw new Error(reason);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`dovecot did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
