// STARTTLS on 25/587 and implicit TLS on 465, with the generated certificate and after new ones are
// dropped in (make certs, a Let's Encrypt renewal), without restarting Postfix.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Appliance, assertIntact, TRAP_DOMAIN, trapMessage } from './helpers/appliance.js';
import { REPO } from './helpers/paths.js';
import { sendEmail } from './helpers/swaks.js';
import { fileFingerprint, makeCertificate, tlsHandshake } from './helpers/tls.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);
const MX = `mx.${TRAP_DOMAIN}`;

describe('TLS', () => {
  let app: Appliance;
  let masterPid: number;
  const endpoints = () => [
    { name: 'smtp', port: app.postfix!.smtpPort, mode: 'starttls' as const },
    { name: 'submission', port: app.postfix!.submissionPort, mode: 'starttls' as const },
    { name: 'smtps', port: app.postfix!.smtpsPort, mode: 'implicit' as const },
  ];
  /** Waits until every port serves the certificate with this fingerprint. */
  const allServe = (fingerprint: string) =>
    eventually(`all three ports to serve ${fingerprint}`, async () => {
      for (const ep of endpoints()) if ((await tlsHandshake(ep.port, ep.mode)).fingerprint !== fingerprint) return false;
      return true;
    }, 20_000, 300);

  before(async () => {
    // TLS_DOMAIN names a Let's Encrypt certificate that does not exist yet: the fallback must work.
    app = await Appliance.start({ postfixEnv: { TLS_DOMAIN: MX } });
    masterPid = await app.postfix!.masterPid();
  });
  after(async () => {
    await app?.stop();
  });

  test('with no certificate provided, a generated self-signed one is served on 25, 587 and 465', async () => {
    const generated = await fileFingerprint(path.join(app.postfix!.configDir, 'tls-selfsigned/fullchain.pem'));
    for (const ep of endpoints()) {
      const hs = await tlsHandshake(ep.port, ep.mode);
      assert.ok(hs.ok, `${ep.name}: handshake failed:\n${hs.output}`);
      assert.equal(hs.fingerprint, generated, `${ep.name} serves the generated certificate`);
      assert.equal(hs.protocol, 'TLSv1.3');
    }
  });

  test('trap mail over STARTTLS (25, 587) and implicit TLS (465) arrives intact', async () => {
    for (const ep of endpoints()) {
      const { token, data } = trapMessage();
      const sent = await sendEmail({ port: ep.port, tls: ep.mode, to: `tls-${ep.name}@${TRAP_DOMAIN}`, data });
      assert.match(sent.transcript, /TLS started/, `${ep.name}: the session was encrypted`);
      const got = await app.waitForTrapMail(token);
      assertIntact(got.hpfeeds, data);
      assertIntact(got.amqp, data);
    }
  });

  test('TLS 1.2 and 1.3 only: a TLS 1.1 client is refused on every port', async () => {
    for (const ep of endpoints()) {
      // SECLEVEL=0 lets our own client offer TLS 1.1, so a refusal comes from the server.
      const old = await tlsHandshake(ep.port, ep.mode, ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']);
      assert.equal(old.ok, false, `${ep.name} accepted TLS 1.1:\n${old.output}`);
      const v12 = await tlsHandshake(ep.port, ep.mode, ['-tls1_2']);
      assert.ok(v12.ok && v12.protocol === 'TLSv1.2', `${ep.name}: TLS 1.2 works:\n${v12.output}`);
    }
  });

  test('weak ciphers are refused by the server: anonymous (aNULL) and unencrypted (eNULL) TLS 1.2 suites', async () => {
    // This OpenSSL can still offer them at SECLEVEL=0 (3DES, RC4 and SEED it no longer has at all).
    for (const [name, cipher] of [['anonymous DH', 'ADH-AES128-GCM-SHA256'], ['no encryption', 'NULL-SHA256']]) {
      for (const ep of endpoints()) {
        const weak = await tlsHandshake(ep.port, ep.mode, ['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`]);
        assert.equal(weak.ok, false, `${ep.name} accepted ${name} (${cipher}):\n${weak.output}`);
        // Refused by the server (a handshake_failure alert), not by our client failing to offer it.
        assert.match(weak.output, /alert handshake failure/, `${ep.name}: ${cipher}: the server refused it\n${weak.output}`);
      }
    }
  });

  test('make certs drops a certificate into CERTS_DIR: served within seconds, no restart', async () => {
    await run(path.join(REPO, 'scripts/certs.sh'), [], { env: { ...process.env, CERTS_DIR: app.postfix!.certsDir, TLS_DOMAIN: MX } });
    const dropped = await fileFingerprint(path.join(app.postfix!.certsDir, 'fullchain.pem'));
    await allServe(dropped);
    assert.equal(await app.postfix!.masterPid(), masterPid, 'Postfix was reloaded, not restarted');

    const { token, data } = trapMessage();
    await sendEmail({ port: app.postfix!.smtpPort, tls: 'starttls', to: `after-swap@${TRAP_DOMAIN}`, data });
    assertIntact((await app.waitForTrapMail(token)).amqp, data);
  });

  test('a half-copied pair (new key, old certificate) is not installed; the complete pair is', async () => {
    const certsDir = app.postfix!.certsDir;
    const served = await fileFingerprint(path.join(certsDir, 'fullchain.pem'));
    const staging = path.join(app.dir, 'staging');
    const next = await makeCertificate(staging, MX);
    const mismatches = () => app.postfix!.watcherLog().split('not a matching certificate and key; keeping the previous pair').length;
    const before = mismatches();
    await fs.copyFile(path.join(staging, 'privkey.pem'), path.join(certsDir, 'privkey.pem'));
    await eventually('the watcher to notice the mismatch', () => mismatches() > before);
    for (const ep of endpoints()) assert.equal((await tlsHandshake(ep.port, ep.mode)).fingerprint, served, `${ep.name} kept the old pair`);

    await fs.copyFile(path.join(staging, 'fullchain.pem'), path.join(certsDir, 'fullchain.pem'));
    await allServe(next);
  });

  test("Let's Encrypt: live/ symlinks are used when TLS_DOMAIN is set, and a renewal is picked up", async () => {
    const le = app.postfix!.env.LETSENCRYPT_DIR!;
    const archive = path.join(le, 'archive', MX);
    const live = path.join(le, 'live', MX);
    await fs.mkdir(live, { recursive: true });
    // certbot's layout: live/<domain>/*.pem are relative symlinks to the numbered files in archive/.
    const link = async (n: number) => {
      for (const name of ['fullchain', 'privkey']) {
        const tmp = path.join(live, `.${name}.tmp`);
        await fs.symlink(`../../archive/${MX}/${name}${n}.pem`, tmp);
        await fs.rename(tmp, path.join(live, `${name}.pem`));
      }
    };
    const first = await makeCertificate(archive, MX, { cert: 'fullchain1.pem', key: 'privkey1.pem' });
    await link(1);
    await allServe(first);

    const renewed = await makeCertificate(archive, MX, { cert: 'fullchain2.pem', key: 'privkey2.pem' });
    await link(2);
    await allServe(renewed);
    assert.equal(await app.postfix!.masterPid(), masterPid, 'Postfix was reloaded, not restarted');
  });
});
