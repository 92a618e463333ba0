// postfix/render.sh, the one configuration step of the container, native-up and these tests: the
// environment becomes main.cf/master.cf, POSTFIX_<parameter> overrides win, and a bad setting stops
// the start with exit 2 and a message naming it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { POSTFIX_DIR } from './helpers/paths.js';

const run = promisify(execFile);

describe('render.sh: configuration from the environment', () => {
  let dir: string;
  let base: Record<string, string>;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'e2e-render-'));
    await fs.chmod(dir, 0o755);
    await fs.writeFile(path.join(dir, 'relay_domains'), 'trap-e2e.test OK\n');
    // A pair dropped in, so no key has to be generated for every case.
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=mx.trap-e2e.test', '-keyout', path.join(dir, 'privkey.pem'), '-out', path.join(dir, 'fullchain.pem')]);
    base = {
      POSTFIX_CONFIG_DIR: path.join(dir, 'config'),
      POSTFIX_QUEUE_DIR: path.join(dir, 'queue'),
      POSTFIX_DATA_DIR: path.join(dir, 'data'),
      RELAY_DOMAINS_FILE: path.join(dir, 'relay_domains'),
      CERTS_DIR: dir,
      MAIL_HOSTNAME: 'mx.trap-e2e.test',
      SMTP_PORT: '2525',
      SUBMISSION_PORT: '2587',
      SMTPS_PORT: '2465',
    };
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Runs render.sh with base + env (and nothing else starting with POSTFIX_); exit code and output. */
  async function render(env: Record<string, string> = {}) {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('POSTFIX_')));
    return run('bash', [path.join(POSTFIX_DIR, 'render.sh')], { env: { ...inherited, ...base, ...env } }).then(
      ({ stderr }) => ({ code: 0, output: stderr }),
      (err: { code: number; stderr: string }) => ({ code: err.code, output: err.stderr }),
    );
  }
  const param = async (name: string) => (await run('postconf', ['-c', base.POSTFIX_CONFIG_DIR!, '-h', name])).stdout.trim();

  test('renders the settings the issue asks for', async () => {
    const r = await render({ LMTP_HOST: '10.0.0.7', LMTP_PORT: '2424', MESSAGE_SIZE_LIMIT: '5000000', QUEUE_LIFETIME: '21d' });
    assert.equal(r.code, 0, r.output);
    assert.equal(await param('relay_transport'), 'lmtp:inet:10.0.0.7:2424');
    assert.equal(await param('message_size_limit'), '5000000');
    // Deferred trap mail waits out a long outage, and is never bounced before that either.
    assert.equal(await param('maximal_queue_lifetime'), '21d');
    assert.equal(await param('bounce_queue_lifetime'), '21d');
    // Trap domains: a compiled hash map; every recipient in them accepted (catch-all).
    assert.equal(await param('relay_domains'), 'hash:$config_directory/relay_domains');
    await fs.access(path.join(base.POSTFIX_CONFIG_DIR!, 'relay_domains.db'));
    assert.equal(await param('relay_recipient_maps'), '');
    // Never an open relay: loopback only in mynetworks, and it grants nothing; no SASL to log in with.
    assert.equal(await param('mynetworks'), '127.0.0.0/8, [::1]/128');
    assert.equal(await param('smtpd_sasl_auth_enable'), 'no');
    assert.equal(await param('smtpd_relay_restrictions'), 'reject_unauth_destination');
    // TLS 1.2+ and strong ciphers only, opportunistic and mandatory alike.
    for (const name of ['smtpd_tls_protocols', 'smtpd_tls_mandatory_protocols']) assert.equal(await param(name), '>=TLSv1.2', name);
    for (const name of ['smtpd_tls_ciphers', 'smtpd_tls_mandatory_ciphers']) assert.equal(await param(name), 'high', name);
    const excluded = (await param('smtpd_tls_exclude_ciphers')).split(/[\s,]+/);
    for (const weak of ['aNULL', 'eNULL', 'EXPORT', 'DES', '3DES', 'RC4', 'MD5']) assert.ok(excluded.includes(weak), `${weak} is excluded`);
    assert.equal(await param('mydestination'), '');
    assert.equal(await param('default_transport'), 'discard:this host delivers no mail');
    assert.equal(await param('lmtp_line_length_limit'), '0');
    assert.equal(await param('local_header_rewrite_clients'), '');
    assert.equal(await param('lmtp_send_xforward_command'), 'yes');
    const master = await fs.readFile(path.join(base.POSTFIX_CONFIG_DIR!, 'master.cf'), 'utf8');
    assert.match(master, /^2465 +inet .*smtpd\n +-o syslog_name=postfix\/smtps\n +-o smtpd_tls_wrappermode=yes/m);
    assert.doesNotMatch(master, /^(smtp|relay) +unix/m, 'no SMTP client transport exists');
    assert.match(master, /^lmtp +unix +- +- +n +- +10 +lmtp\n +-o soft_bounce=yes/m, 'LMTP processes are capped');
  });

  test('the log may go to /dev/stdout or the file named, nowhere else', async () => {
    let r = await render({ MAILLOG_FILE: '/dev/stdout' });
    assert.equal(r.code, 0, r.output);
    assert.equal(await param('maillog_file_prefixes'), '/var, /dev/stdout');
    const file = path.join(dir, 'log', 'postfix.log');
    r = await render({ MAILLOG_FILE: file });
    assert.equal(r.code, 0, r.output);
    assert.equal(await param('maillog_file'), file);
    assert.equal(await param('maillog_file_prefixes'), `/var, /dev/stdout, ${file}`);
  });

  test('POSTFIX_<parameter> overrides any main.cf parameter, last', async () => {
    const r = await render({ POSTFIX_queue_run_delay: '7s', POSTFIX_message_size_limit: '1234' });
    assert.equal(r.code, 0, r.output);
    assert.equal(await param('queue_run_delay'), '7s');
    assert.equal(await param('message_size_limit'), '1234');
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['an unknown Postfix parameter', { POSTFIX_no_such_parameter: 'x' }, /POSTFIX_no_such_parameter: 'no_such_parameter' is not a Postfix parameter/],
    ['an upper-case POSTFIX_ name', { POSTFIX_MESSAGE_SIZE_LIMIT: '1' }, /POSTFIX_MESSAGE_SIZE_LIMIT is not a setting.*POSTFIX_message_size_limit/],
    ['a port that is not a number', { SMTP_PORT: '25a' }, /SMTP_PORT='25a' is not a non-negative integer/],
    ['a port out of range', { SMTPS_PORT: '70000' }, /SMTPS_PORT=70000 is above the maximum 65535/],
    ['two services on one port', { SUBMISSION_PORT: '2525' }, /must differ/],
    ['a size limit with a unit', { MESSAGE_SIZE_LIMIT: '10M' }, /MESSAGE_SIZE_LIMIT='10M'/],
    ['a missing relay_domains file', { RELAY_DOMAINS_FILE: '/nonexistent/relay_domains' }, /RELAY_DOMAINS_FILE=\/nonexistent\/relay_domains does not exist/],
  ];
  for (const [name, env, message] of bad) {
    test(`refuses ${name}: exit 2, naming it`, async () => {
      const r = await render(env);
      assert.equal(r.code, 2, r.output);
      assert.match(r.output, message);
    });
  }

  test('refuses a malformed relay_domains line, naming the file and line', async () => {
    const file = path.join(dir, 'relay_domains.bad');
    await fs.writeFile(file, 'trap-e2e.test OK\nbad domain line here\n');
    const r = await render({ RELAY_DOMAINS_FILE: file });
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /relay_domains\.bad line 2: expected 'domain OK'/);
  });
});
