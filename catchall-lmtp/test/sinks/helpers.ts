// Shared by the sink and payload tests: messages with their sha256, what a consumer does with a
// json payload, and waiting with a bound.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EnvelopeRecord } from '../../src/payload/index.js';
import type { CollectedMessage, Envelope } from '../../src/sinks/sink.js';

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export interface JsonPayload {
  sha256: string;
  msg: string;
  encoding?: 'base64';
  envelope: EnvelopeRecord;
}

/** Parses a json payload and gets the exact message bytes back. */
export function parseJsonPayload(payload: Buffer): { doc: JsonPayload; bytes: Buffer } {
  const doc = JSON.parse(payload.toString('utf8')) as JsonPayload;
  const bytes = doc.encoding === 'base64' ? Buffer.from(doc.msg, 'base64') : Buffer.from(doc.msg, 'utf8');
  return { doc, bytes };
}

export function message(bytes: Buffer, envelope: Partial<Envelope> = {}): CollectedMessage {
  return {
    bytes,
    sha256: sha256(bytes),
    envelope: {
      mailFrom: 'spammer@example.net',
      rcptTo: ['trap@example.org'],
      clientAddress: '203.0.113.5',
      receivedAt: new Date(),
      size: bytes.length,
      ...envelope,
    },
  };
}

/** Polls until `check` returns a value, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `dir`), made with openssl. */
export async function selfSignedCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await promisify(execFile)(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { timeout: 20_000 },
  );
  return { cert, key };
}
