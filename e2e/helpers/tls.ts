// What a TLS client sees: the certificate served on a port and the negotiated protocol, read with
// `openssl s_client` (STARTTLS on 25/587, implicit TLS on 465).
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TlsHandshake {
  ok: boolean;
  /** sha256 fingerprint of the leaf certificate (XX:XX:...), when the handshake succeeded. */
  fingerprint?: string;
  protocol?: string;
  output: string;
}

export async function tlsHandshake(port: number, mode: 'starttls' | 'implicit', extraArgs: string[] = []): Promise<TlsHandshake> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, ...(mode === 'starttls' ? ['-starttls', 'smtp'] : []), ...extraArgs];
  // stdin is /dev/null: s_client completes the handshake, prints it, and quits at EOF. A failed
  // handshake exits non-zero.
  const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  const result = { output, code };
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(result.output)?.[0];
  const protocol = /^\s*Protocol\s*:\s*(\S+)/m.exec(result.output)?.[1] ?? /^New, (TLSv[\d.]+),/m.exec(result.output)?.[1];
  const ok = result.code === 0 && pem !== undefined;
  return { ok, output: result.output, ...(pem && { fingerprint: new X509Certificate(pem).fingerprint256 }), ...(protocol && { protocol }) };
}

export async function fileFingerprint(file: string): Promise<string> {
  return new X509Certificate(await fs.readFile(file)).fingerprint256;
}

/** A new self-signed pair (EC P-256, quick to make) written into DIR; returns its fingerprint. */
export async function makeCertificate(dir: string, cn: string, names = { cert: 'fullchain.pem', key: 'privkey.pem' }): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const key = `${dir}/${names.key}`;
  const cert = `${dir}/${names.cert}`;
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert], { timeout: 15_000 });
  return fileFingerprint(cert);
}
