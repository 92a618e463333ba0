// Per-mailbox memory of what was already offered to the sinks: UIDVALIDITY, the highest UID looked
// at, the UIDs at or below it that are not collected yet (passed over while \Seen, or refused by a
// sink), and the confirmed UIDs whose \Seen/deletion may not have reached the server yet. UIDs only
// grow within one UIDVALIDITY, so "UID > lastUid" is "never looked at".
// Written atomically (tmp, fsync, rename) so a crash leaves the old or the new state, never half.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { addRange, isUidRanges, type UidRanges } from './uid-ranges.js';

export interface UidState {
  /** UIDVALIDITY as a decimal string (it is a 32-bit unsigned value; imapflow reports a BigInt). */
  uidValidity: string;
  /** Highest UID looked at; 0 when nothing was looked at yet. */
  lastUid: number;
  /**
   * UIDs at or below lastUid that were not collected: a default run passed over them (\Seen then), or
   * a sink refused them. Offered again whenever they match (always with -a, while unseen without).
   * May include UIDs that no longer exist.
   */
  pending: UidRanges;
  /** Confirmed, but not yet known to be marked \Seen or deleted on the server. */
  unmarked: number[];
}

export class UidStateFile {
  constructor(readonly file: string) {}

  /** A file name that is safe on any filesystem yet still readable by a human. */
  static forMailbox(dir: string, mailboxId: string): UidStateFile {
    const readable = mailboxId.replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 80);
    const digest = createHash('sha256').update(mailboxId).digest('hex').slice(0, 12);
    return new UidStateFile(path.join(dir, `${readable}.${digest}.json`));
  }

  /** The stored state, or undefined when there is none yet. A corrupt file is an error, never a silent reset. */
  async load(): Promise<UidState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let data: Partial<UidState> & { retry?: unknown };
    try {
      data = JSON.parse(text) as Partial<UidState>;
    } catch {
      throw new Error(`state file ${this.file} is not valid JSON: ${text.slice(0, 200)}`);
    }
    const isUid = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
    const isUidList = (l: unknown): l is number[] => Array.isArray(l) && l.every(isUid);
    // Files from before `pending` listed only the refused UIDs, as `retry`.
    if (data.pending === undefined && isUidList(data.retry)) data.pending = data.retry.filter((u) => u > 0).reduce<UidRanges>((r, u) => addRange(r, u, u), []);
    if (typeof data.uidValidity !== 'string' || !isUid(data.lastUid) || !isUidRanges(data.pending) || (data.pending.at(-1)?.[1] ?? 0) > data.lastUid || !isUidList(data.unmarked)) {
      throw new Error(`state file ${this.file} is not valid: ${text.slice(0, 200)}`);
    }
    return { uidValidity: data.uidValidity, lastUid: data.lastUid, pending: data.pending, unmarked: data.unmarked };
  }

  async save(state: UidState): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(state)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
  }
}
