// Message size is enforced by Postfix at SMTP time (MESSAGE_SIZE_LIMIT), and SMTPUTF8 trap mail with
// a UTF-8 local part is delivered.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Appliance, assertIntact, TRAP_DOMAIN, trapMessage } from './helpers/appliance.js';
import { SmtpDialog } from './helpers/smtp-dialog.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually, sleep } from './helpers/wait.js';

const LIMIT = 200_000;

/** A trap message of about `size` bytes: 76-character lines, as a mail client would write. */
function messageOfSize(size: number) {
  const line = `${'y'.repeat(76)}\r\n`;
  return trapMessage(undefined, line.repeat(Math.ceil(size / line.length)));
}

describe('limits', () => {
  let app: Appliance;

  before(async () => {
    app = await Appliance.start({ postfixEnv: { MESSAGE_SIZE_LIMIT: String(LIMIT) } });
  });
  after(async () => {
    await app?.stop();
  });

  test('the limit is announced in EHLO', async () => {
    const { dialog } = await SmtpDialog.connect(app.postfix!.smtpPort);
    try {
      assert.match(await dialog.command('EHLO client.example.org'), new RegExp(`^250-SIZE ${LIMIT}\\r?$`, 'm'));
    } finally {
      await dialog.close();
    }
  });

  test('a message over MESSAGE_SIZE_LIMIT is refused with 552 5.3.4 and never reaches a broker', async () => {
    const { token, data } = messageOfSize(LIMIT + 50_000);
    await sendEmail({ port: app.postfix!.smtpPort, to: `big@${TRAP_DOMAIN}`, data, expectRejection: /^552 5\.3\.4 / });
    // A message just under the limit, sent after it, arrives; so by then the big one would have too.
    const small = messageOfSize(LIMIT - 20_000);
    await sendEmail({ port: app.postfix!.smtpPort, to: `big@${TRAP_DOMAIN}`, data: small.data });
    const got = await app.waitForTrapMail(small.token);
    assertIntact(got.amqp, small.data);
    await sleep(500);
    assert.deepEqual(app.received(token), { hpfeeds: [], amqp: [] }, 'the oversized message was not delivered');
    // The small one may still be in the queue for a moment after the collector published it.
    await eventually('an empty Postfix queue (the oversized message not queued)', async () => (await app.postfix!.queue()).length === 0);
  });

  test('a message declaring a size over the limit in MAIL FROM is refused before DATA', async () => {
    const { dialog } = await SmtpDialog.connect(app.postfix!.smtpPort);
    try {
      await dialog.command('EHLO client.example.org');
      assert.match(await dialog.command(`MAIL FROM:<s@example.org> SIZE=${LIMIT + 1}`), /^552 5\.3\.4 /);
    } finally {
      await dialog.close();
    }
  });

  test('SMTPUTF8: trap mail with a UTF-8 local part and UTF-8 headers is delivered intact', async () => {
    const rcpt = `josé.müller-日本@${TRAP_DOMAIN}`;
    const token = `utf8-${Date.now()}`;
    const data = Buffer.from(
      `From: Jörg <jörg@exämple.org>\r\nTo: <${rcpt}>\r\nSubject: Grüße ${token} ✉\r\n\r\nÜnïcödé body ✓\r\n`,
      'utf8',
    );
    const { dialog, greeting } = await SmtpDialog.connect(app.postfix!.smtpPort);
    try {
      assert.match(greeting, /^220 /);
      assert.match(await dialog.command('EHLO client.example.org'), /^250-SMTPUTF8/m);
      assert.match(await dialog.command('MAIL FROM:<jörg@exämple.org> SMTPUTF8'), /^250 /);
      assert.match(await dialog.command(`RCPT TO:<${rcpt}>`), /^250 /);
      assert.match(await dialog.data(data), /^250 2\.0\.0 Ok: queued/);
    } finally {
      await dialog.close();
    }
    const got = await app.waitForTrapMail(token);
    for (const copy of [got.hpfeeds, got.amqp]) {
      assertIntact(copy, data);
      assert.deepEqual(copy.envelope.rcpt_to, [rcpt]);
      assert.equal(copy.envelope.mail_from, 'jörg@exämple.org');
    }
  });
});
