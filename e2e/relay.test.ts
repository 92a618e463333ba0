// Trap mail reaches both brokers byte for byte; everything else is refused, whatever the trick, and
// nothing ever leaves the box.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Appliance, assertIntact, TRAP_DOMAIN, trapMessage } from './helpers/appliance.js';
import { requireIpv6Loopback } from './helpers/ports.js';
import { SmtpDialog } from './helpers/smtp-dialog.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually, sleep } from './helpers/wait.js';

describe('relay: trap domains only', () => {
  let app: Appliance;
  const port = () => app.postfix!.smtpPort;

  before(async () => {
    app = await Appliance.start();
  });
  after(async () => {
    await app?.stop();
  });

  test('trap mail arrives at both brokers exactly as sent, with the real client address', async () => {
    // What spam looks like on the wire: a line past 998 bytes, a leading dot, trailing blanks, a tab
    // continuation, 8-bit Latin-1 (not UTF-8, so it travels base64-encoded) and a NUL-free binary mix.
    const body = Buffer.concat([
      Buffer.from(`${'x'.repeat(1500)}\r\n.a line starting with a dot\r\n..two dots\r\ntrailing blanks  \r\n\tindented\r\n`),
      Buffer.from('caf\xe9 na\xefve \xa9\r\n', 'latin1'),
    ]);
    const { token, data } = trapMessage(undefined, '');
    const sent = Buffer.concat([data, body]);
    await sendEmail({ port: port(), from: 'spammer@example.org', to: `victim@${TRAP_DOMAIN}`, data: sent });

    const got = await app.waitForTrapMail(token);
    for (const copy of [got.hpfeeds, got.amqp]) {
      assertIntact(copy, sent);
      assert.equal(copy.envelope.client_address, '127.0.0.1', 'XFORWARD gave the collector the real client address');
      assert.equal(copy.envelope.mail_from, 'spammer@example.org');
      assert.deepEqual(copy.envelope.rcpt_to, [`victim@${TRAP_DOMAIN}`]);
    }
  });

  // Each of these tries to get a non-trap address through a trap domain, or relays outright.
  const refused = [
    ['a plain foreign domain', 'victim@example.com'],
    ['the percent hack', `victim%example.com@${TRAP_DOMAIN}`],
    ['user%other@trap with a trap-looking other', `victim%${TRAP_DOMAIN}@example.com`],
    ['a source route into a foreign domain', `@${TRAP_DOMAIN}:victim@example.com`],
    ['a quoted local part holding an address', `"victim@example.com"@${TRAP_DOMAIN}`],
    ['two @ signs', `victim@example.com@${TRAP_DOMAIN}`],
    ['a bang path through the trap', `example.com!victim@${TRAP_DOMAIN}`],
    ['a bare bang path', 'example.com!victim'],
    ['localhost', 'root@localhost'],
    ['a look-alike domain', `victim@${TRAP_DOMAIN}.example.com`],
    ['a domain ending in the trap name', `victim@not${TRAP_DOMAIN}`],
    // The spellings accepted for the trap domain below grant nothing to a foreign one.
    ['a foreign domain in upper case', 'victim@EXAMPLE.COM'],
    ['a foreign domain with a trailing dot', 'victim@example.com.'],
    ['the percent hack through an upper-case, dotted trap domain', `victim%example.com@${TRAP_DOMAIN.toUpperCase()}.`],
  ] as const;
  for (const [name, rcpt] of refused) {
    test(`refused with 554 5.7.1: ${name} <${rcpt}>`, async () => {
      await sendEmail({ port: port(), to: rcpt, quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1 .*Relay access denied/ });
    });
  }

  test('refused from the null sender too, while trap mail from <> is accepted', async () => {
    await sendEmail({ port: port(), from: '', to: 'victim@example.com', quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1/ });
    const { token, data } = trapMessage();
    await sendEmail({ port: port(), from: '', to: `bounce@${TRAP_DOMAIN}`, data });
    const got = await app.waitForTrapMail(token);
    assertIntact(got.amqp, data);
    assert.equal(got.amqp.envelope.mail_from, '');
  });

  test('refused on the submission port (587 behaves like 25)', async () => {
    await sendEmail({ port: app.postfix!.submissionPort, to: 'victim@example.com', quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1/ });
  });

  test('an unqualified recipient is refused, even when the host name lies in a trap domain', async () => {
    await sendEmail({ port: port(), to: 'root', quitAfter: 'RCPT', expectRejection: /^504 5\.5\.2 .*need fully-qualified address/ });
  });

  test('<postmaster> is accepted, as RFC 5321 requires, and stays in the box', async () => {
    // Postfix completes it with the host name, here inside the trap domain, so it is trap mail.
    const { token, data } = trapMessage();
    await sendEmail({ port: port(), to: 'postmaster', data });
    const got = await app.waitForTrapMail(token);
    assert.deepEqual(got.amqp.envelope.rcpt_to, [`postmaster@mx.${TRAP_DOMAIN}`]);
  });

  test('no VRFY, no ETRN, no AUTH: nothing to probe, nothing to flush, no way to log in', async () => {
    const { dialog } = await SmtpDialog.connect(port());
    try {
      assert.doesNotMatch(await dialog.command('EHLO client.example.org'), /AUTH/);
      assert.match(await dialog.command(`VRFY victim@${TRAP_DOMAIN}`), /^502 5\.5\.1 /);
      assert.match(await dialog.command(`ETRN ${TRAP_DOMAIN}`), /^554 5\.7\.1 /);
      assert.match(await dialog.command('AUTH PLAIN AGFAYg=='), /^503 5\.5\.1 /);
    } finally {
      await dialog.close();
    }
  });

  test('local addresses are refused: this host has no mailboxes', async () => {
    await sendEmail({ port: port(), to: 'root@[127.0.0.1]', quitAfter: 'RCPT', expectRejection: /^550 5\.1\.1/ });
  });

  test('the IPv6 loopback gets no relay permission either', async (t) => {
    if (!(await requireIpv6Loopback(t))) return;
    await sendEmail({ server: '::1', port: port(), to: 'victim@example.com', quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1/ });
    const { token, data } = trapMessage();
    await sendEmail({ server: '::1', port: port(), to: `v6@${TRAP_DOMAIN}`, data });
    const got = await app.waitForTrapMail(token);
    assertIntact(got.hpfeeds, data);
    assert.equal(got.hpfeeds.envelope.client_address, '::1');
  });

  // Spellings that really are the trap domain: DNS names are case-insensitive, a trailing dot is the
  // fully qualified form, a source route is ignored (RFC 5321 4.1.1.3) and subdomains are included.
  const sameDomain = [
    ['upper case', `VICTIM@${TRAP_DOMAIN.toUpperCase()}`],
    ['a trailing dot', `victim@${TRAP_DOMAIN}.`],
    ['a source route ending in the trap', `@relay.example.com:victim@${TRAP_DOMAIN}`],
    ['a subdomain', `victim@mail.${TRAP_DOMAIN}`],
  ] as const;
  for (const [name, rcpt] of sameDomain) {
    test(`accepted and delivered as trap mail: ${name} <${rcpt}>`, async () => {
      const { token, data } = trapMessage();
      await sendEmail({ port: port(), to: rcpt, data });
      const got = await app.waitForTrapMail(token);
      assertIntact(got.amqp, data);
      assertIntact(got.hpfeeds, data);
      const [recipient] = got.amqp.envelope.rcpt_to ?? [];
      assert.ok(recipient?.toLowerCase().includes(`@${TRAP_DOMAIN}`) || recipient?.toLowerCase().includes(`.${TRAP_DOMAIN}`), `recipient ${recipient} is in the trap domain`);
    });
  }

  test('nothing left the box: the collector is the only place mail went, no notices, empty queue', async () => {
    await eventually('an empty Postfix queue', async () => (await app.postfix!.queue()).length === 0);
    await sleep(500); // anything that would go out would be logged by now
    const activity = await app.postfix!.outboundActivity();
    const collector = `127.0.0.1[127.0.0.1]:${app.postfix!.env.LMTP_PORT}`;
    assert.ok(activity.relays.length > 0, 'trap mail was delivered');
    assert.deepEqual(activity.relays.filter((r) => r !== collector), [], 'every delivery went to the collector');
    assert.equal(activity.smtpClient, false, 'no SMTP client ever ran');
    assert.equal(activity.notices, false, 'no bounce or notice was generated');
  });
});
