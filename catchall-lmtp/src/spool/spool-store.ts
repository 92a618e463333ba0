// The spool on disk: a Maildir (see sinks/maildir.ts) whose new/ holds accepted messages not yet
// confirmed by every sink and whose cur/ is the archive of forwarded ones. The envelope (recipients,
// XFORWARD client data…), for which a Maildir has no place, is stored as the message's metadata (meta/), so
// that a message replayed after a restart is published with the same envelope. So are the sinks that
// already confirmed a message another sink refused, so that a restart does not publish it to them again.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Maildir } from '../sinks/maildir.js';
import { partsOf, type CollectedMessage, type Envelope } from '../sinks/sink.js';

type StoredEnvelope = Omit<Envelope, 'receivedAt'> & { receivedAt: string };
interface StoredMeta {
  sha256: string;
  envelope: StoredEnvelope;
  /** Names of the sinks that confirmed the message while another one failed. */
  confirmedBy?: string[];
}

export interface SpooledMessage {
  message: CollectedMessage;
  /** Sinks that already have it (see recordConfirmed). */
  confirmedBy: string[];
}

/** A rewrite of meta/NAME in progress; a leftover of a crash is removed at open(). */
const REWRITE = /^\..*\.rewrite$/;

export class SpoolStore {
  private readonly maildir: Maildir;

  constructor(readonly dir: string) {
    this.maildir = new Maildir(dir);
  }

  async open(): Promise<void> {
    await this.maildir.open();
    const meta = path.join(this.dir, 'meta');
    for (const name of await readdir(meta)) if (REWRITE.test(name)) await rm(path.join(meta, name), { force: true });
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
    return this.maildir.add(partsOf(message), metaOf(message));
  }

  listNew(): Promise<string[]> {
    return this.maildir.listNew();
  }

  /** Reads a message back from new/; one put there by someone else gets a minimal envelope. */
  async read(name: string): Promise<SpooledMessage> {
    const { bytes, meta: json } = await this.maildir.readNew(name);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    let envelope: Envelope = { mailFrom: '', rcptTo: [], receivedAt: receivedAtFromName(name), size: bytes.length };
    let confirmedBy: string[] = [];
    if (json) {
      const stored = JSON.parse(json.toString('utf8')) as StoredMeta;
      envelope = { ...stored.envelope, receivedAt: new Date(stored.envelope.receivedAt), size: bytes.length };
      confirmedBy = stored.confirmedBy ?? [];
    }
    return { message: { bytes, sha256, envelope }, confirmedBy };
  }

  /**
   * Records which sinks confirmed a message that stays in new/ because another failed: meta/NAME is
   * replaced atomically (a temporary file in meta/, fsynced, renamed over it, meta/ fsynced).
   */
  async recordConfirmed(name: string, message: CollectedMessage, sinks: readonly string[]): Promise<void> {
    const meta = path.join(this.dir, 'meta');
    const temporary = path.join(meta, `.${name}.rewrite`);
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(metaOf(message, sinks));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path.join(meta, name));
    const dir = await open(meta, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
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

function metaOf(message: CollectedMessage, confirmedBy?: readonly string[]): Buffer {
  const envelope: StoredEnvelope = { ...message.envelope, receivedAt: message.envelope.receivedAt.toISOString() };
  const meta: StoredMeta = { sha256: message.sha256, envelope, ...(confirmedBy ? { confirmedBy: [...confirmedBy] } : {}) };
  return Buffer.from(JSON.stringify(meta));
}

/** Maildir names start with the arrival time in seconds; anything else counts as "now". */
function receivedAtFromName(name: string): Date {
  const seconds = /^(\d{9,})\./.exec(name)?.[1];
  return seconds ? new Date(Number(seconds) * 1000) : new Date();
}
