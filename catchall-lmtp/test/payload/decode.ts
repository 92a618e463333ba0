// What a consumer does with a json payload: parse it and get the exact message bytes back.
import { createHash } from 'node:crypto';
import type { EnvelopeRecord } from '../../src/payload/index.js';

export interface JsonPayload {
  sha256: string;
  msg: string;
  encoding?: 'base64';
  envelope: EnvelopeRecord;
}

export function parseJsonPayload(payload: Buffer): { doc: JsonPayload; bytes: Buffer } {
  const doc = JSON.parse(payload.toString('utf8')) as JsonPayload;
  const bytes = doc.encoding === 'base64' ? Buffer.from(doc.msg, 'base64') : Buffer.from(doc.msg, 'utf8');
  return { doc, bytes };
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
