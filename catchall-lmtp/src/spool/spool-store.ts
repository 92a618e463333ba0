// The spool on disk: a Maildir (see sinks/maildir.ts) whose new/ holds accepted messages not yet
// confirmed by every sink and whose cur/ is the archive of forwarded ones. The envelope (recipients,
// XFORWARD client data…), for which a Maildir has no place, is stored as the message's metadata (meta/), so
// that a message replayed after a restart is published with the same envelope.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { Maildir } from '../sinks/maildir.js';
import type { CollectedMessage, Envelope } from '../sinks/sink.js';

type StoredEnvelope = Omit<Envelope, 'receivedAt'> & { receivedAt: string };

export class SpoolStore {
  private readonly maildir: Maildir;

  constructor(readonly dir: string) {
    this.maildir = new Maildir(dir);
  }

  open(): Promise<void> {
    return this.maildir.open();
  }

  close(): Promise<void> {
    return this.maildir.close();
  }

  async isWritable(): Promise<boolean> {
    try {
      for (const sub of ['tmp', 'new']) await access(path.join(this.dir, sub), constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /** Durable in new/ (with its envelope) once resolved; returns the Maildir name. */
  add(message: CollectedMessage): Promise<string> {
    const envelope: StoredEnvelope = { ...message.envelope, receivedAt: message.envelope.receivedAt.toISOString() };
    return this.maildir.add(message.bytes, Buffer.from(JSON.stringify({ sha256: message.sha256, envelope })));
  }

  listNew(): Promise<string[]> {
    return this.maildir.listNew();
  }

  /** Reads a message back from new/; one put there by someone else gets a minimal envelope. */
  async read(name: string): Promise<CollectedMessage> {
    const { bytes, meta: json } = await this.maildir.readNew(name);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    let envelope: Envelope = { mailFrom: '', rcptTo: [], receivedAt: receivedAtFromName(name), size: bytes.length };
    if (json) {
      const stored = (JSON.parse(json.toString('utf8')) as { envelope: StoredEnvelope }).envelope;
      envelope = { ...stored, receivedAt: new Date(stored.receivedAt), size: bytes.length };
    }
    return { bytes, sha256, envelope };
  }

  /** new/NAME → cur/NAME:2, once every sink confirmed (not fsynced: see Maildir.markDelivered). */
  markForwarded(name: string): void {
    this.maildir.markDelivered(name);
  }

  /** Retention of cur/; 0 disables a rule. new/ is never touched. */
  prune(days: number, count: number): Promise<number> {
    return this.maildir.prune({ maxAgeMs: days * 86_400_000, maxCount: count });
  }
}

/** Maildir names start with the arrival time in seconds; anything else counts as "now". */
function receivedAtFromName(name: string): Date {
  const seconds = /^(\d{9,})\./.exec(name)?.[1];
  return seconds ? new Date(Number(seconds) * 1000) : new Date();
}
