import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from 'catchall-lmtp/config/errors';
import { loadMailboxConfig } from '../src/mailboxes/load.js';

describe('mailbox config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'imap-mailboxes-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
    const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.yml`);
    await writeFile(file, yaml);
    return loadMailboxConfig(file, env);
  }

  async function rejects(yaml: string, ...expected: RegExp[]) {
    const err = await load(yaml).then(
      () => assert.fail('the config was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.exitCode, 2);
    for (const re of expected) assert.match(err.message, re);
    return err.message;
  }

  it("reads the seed's list and fills in TLS, port, certificate check and mailbox", async () => {
    const boxes = await load(`
- username: trap1@example.org
  password: s1
  protocol: imap
  host: imap.example.org
  port: 993
- username: trap2
  password: s2
  protocol: imap
  host: mail.example.net
  port: 143
- {username: trap3, password: s3, host: h3}
- {username: trap4, password: s4, host: h4, tls: starttls, verify_cert: false, mailbox: Junk}
- {username: trap5, password: s5, host: h5, port: 1143, tls: none}
`);
    assert.deepEqual(
      boxes.map((b) => [b.username, b.host, b.port, b.tls, b.verifyCert, b.mailbox, b.password]),
      [
        ['trap1@example.org', 'imap.example.org', 993, 'implicit', true, 'INBOX', 's1'],
        ['trap2', 'mail.example.net', 143, 'starttls', true, 'INBOX', 's2'],
        ['trap3', 'h3', 993, 'implicit', true, 'INBOX', 's3'],
        ['trap4', 'h4', 143, 'starttls', false, 'Junk', 's4'],
        ['trap5', 'h5', 1143, 'none', true, 'INBOX', 's5'],
      ],
    );
  });

  it('takes the password from an environment variable or a file', async () => {
    const secretFile = path.join(dir, 'secret');
    await writeFile(secretFile, 'from-file\n');
    const boxes = await load(
      `
- {username: a, password_env: TRAP_A_PASSWORD, host: h}
- {username: b, password_file: ${secretFile}, host: h}
`,
      { TRAP_A_PASSWORD: 'from-env' },
    );
    assert.deepEqual(
      boxes.map((b) => b.password),
      ['from-env', 'from-file'],
    );
  });

  it('reads YAML 1.1 as the seeds did (verify_cert: no) and replaces ${VAR} as the feed config does', async () => {
    const boxes = await load(
      `
- {username: a, password: x, host: h, verify_cert: no}
- {username: b, password: x, host: h, verify_cert: yes}
- username: \${TRAP_USER}
  password: \${TRAP_PASSWORD}
  host: \${TRAP_HOST:-imap.example.org}
  port: \${TRAP_PORT}
  verify_cert: \${TRAP_VERIFY}
  mailbox: Junk-$$-folder
`,
      { TRAP_USER: 'trap@example.org', TRAP_PASSWORD: 'from-env', TRAP_PORT: '1143', TRAP_VERIFY: 'false' },
    );
    assert.deepEqual(
      boxes.map((b) => [b.username, b.password, b.host, b.port, b.verifyCert, b.mailbox]),
      [
        ['a', 'x', 'h', 993, false, 'INBOX'],
        ['b', 'x', 'h', 993, true, 'INBOX'],
        ['trap@example.org', 'from-env', 'imap.example.org', 1143, false, 'Junk-$-folder'],
      ],
    );
    await rejects('- {username: a, password: "\${UNSET_TRAP_PASSWORD}", host: h}\n', /mailbox config .*: mailboxes\[0\]\.password: environment variable UNSET_TRAP_PASSWORD is not set/);
    await rejects('- {username: a, password: no, host: h}\n', /mailboxes\[0\]\.password: expected a string \(quote a password/);
  });

  it('names the entry and key of every mistake, without printing passwords', async () => {
    const message = await rejects(
      `
- {username: a, password: topsecret, host: h, port: 99999}
- {username: b, password: x, host: h, protocol: pop3}
- {username: c, password: x, host: h, tls: ssl}
- {username: d, host: h}
- {username: e, password: x, password_env: E, host: h}
- {username: f, password: topsecret, host: h, hots: typo}
`,
      /mailboxes\[0\]\.port: .*65535.*99999/,
      /mailboxes\[1\]\.protocol: only "imap" is supported/,
      /mailboxes\[2\]\.tls: .*"implicit".*"starttls".*"none"/,
      /mailboxes\[3\]\.password: one of password, password_env or password_file is required/,
      /mailboxes\[4\]\.password_env: give only one of password, password_env/,
      /mailboxes\[5\]: unknown key "hots"/,
    );
    assert.doesNotMatch(message, /topsecret/);
  });

  it('refuses an empty file, a mapping, duplicates, and missing secrets', async () => {
    await rejects('', /expected a YAML list of mailboxes, got an empty file/);
    await rejects('username: a\npassword: topsecret\n', /expected a YAML list of mailboxes, got a mapping$/);
    await rejects('[]', /lists no mailboxes/);
    await rejects('- {username: a, password: x, host: h}\n- {username: a, password: x2, host: h}\n', /mailboxes\[1\]\.mailbox: same account, server and mailbox as entry 0; got "a@h:993\/INBOX"/);
    await rejects('- {username: a, password_env: NOT_SET_ANYWHERE, host: h}\n', /mailboxes\[0\]\.password_env: environment variable NOT_SET_ANYWHERE is not set/);
    await rejects(`- {username: a, password_file: ${path.join(dir, 'missing')}, host: h}\n`, /mailboxes\[0\]\.password_file: cannot read .*missing/);
    await rejects('- {username: a, password: x, host: [unclosed\n', /not valid YAML/);
  });

  it('reports an unreadable file by name', async () => {
    await assert.rejects(loadMailboxConfig(path.join(dir, 'nope.yml'), {}), /cannot read mailbox config .*nope\.yml/);
  });
});
