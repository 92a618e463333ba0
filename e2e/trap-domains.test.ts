// Editing relay_domains takes effect within seconds, without restarting Postfix: a new trap domain is
// accepted and delivered, a removed one is refused, and a broken edit changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Appliance, assertIntact, TRAP_DOMAIN, trapMessage } from './helpers/appliance.js';
import { sendEmail } from './helpers/swaks.js';
import { eventually, sleep } from './helpers/wait.js';

const NEW_DOMAIN = 'added-trap-e2e.test';

describe('trap domains without a restart', () => {
  let app: Appliance;
  let masterPid: number;
  /** Whether Postfix accepts a recipient in this domain right now (RCPT only). */
  const accepts = async (domain: string) => {
    const r = await sendEmail({ port: app.postfix!.smtpPort, to: `probe@${domain}`, quitAfter: 'RCPT' }).catch(() => undefined);
    return r !== undefined;
  };

  before(async () => {
    app = await Appliance.start({ relayDomains: [TRAP_DOMAIN] });
    masterPid = await app.postfix!.masterPid();
  });
  after(async () => {
    await app?.stop();
  });

  test('a domain added to relay_domains is accepted within seconds and its mail delivered', async () => {
    await sendEmail({ port: app.postfix!.smtpPort, to: `x@${NEW_DOMAIN}`, quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1/ });
    await app.postfix!.writeRelayDomains([TRAP_DOMAIN, NEW_DOMAIN]);
    await eventually(`${NEW_DOMAIN} to be accepted`, () => accepts(NEW_DOMAIN), 15_000, 300);

    const { token, data } = trapMessage(undefined, undefined, `x@${NEW_DOMAIN}`);
    await sendEmail({ port: app.postfix!.smtpPort, to: `x@${NEW_DOMAIN}`, data });
    const got = await app.waitForTrapMail(token);
    assertIntact(got.hpfeeds, data);
    assertIntact(got.amqp, data);
    assert.equal(await app.postfix!.masterPid(), masterPid, 'Postfix was reloaded, not restarted');
  });

  test('a malformed edit is reported and the previous list stays in force', async () => {
    await app.postfix!.writeRelayDomains([TRAP_DOMAIN, NEW_DOMAIN, 'not a domain line']);
    await eventually('the watcher to report the bad line', () => /line 3: expected 'domain OK'/.test(app.postfix!.watcherLog()), 15_000);
    await sleep(1_500); // a full watcher pass after the report
    assert.ok(await accepts(NEW_DOMAIN), `${NEW_DOMAIN} is still accepted`);
    assert.ok(await accepts(TRAP_DOMAIN), `${TRAP_DOMAIN} is still accepted`);
  });

  test('a domain removed from relay_domains is refused again within seconds', async () => {
    await app.postfix!.writeRelayDomains([TRAP_DOMAIN]);
    await eventually(`${NEW_DOMAIN} to be refused`, async () => !(await accepts(NEW_DOMAIN)), 15_000, 300);
    await sendEmail({ port: app.postfix!.smtpPort, to: `x@${NEW_DOMAIN}`, quitAfter: 'RCPT', expectRejection: /^554 5\.7\.1 .*Relay access denied/ });
    assert.ok(await accepts(TRAP_DOMAIN), 'the remaining trap domain is unaffected');
    assert.equal(await app.postfix!.masterPid(), masterPid, 'Postfix was reloaded, not restarted');
  });
});
