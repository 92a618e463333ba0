// Group commit for Maildir deliveries, made durable by the write-ahead journal (maildir-journal.ts).
// Messages that arrive while a batch is being flushed form the next batch, and a batch costs:
//   1. each message's files: tmp/NAME (and meta/NAME when there is metadata) created and filled, then
//      tmp/NAME renamed into new/, synchronously and in the page cache only;
//   2. the batch appended to the current journal segment, and one fdatasync of that file.
// Only then are the writes resolved. Every second (or 64 MiB) the segment is rotated, and a
// checkpoint flushes the whole file system and deletes the segments written before it. open() redoes
// what a crash left in the journal: a message not intact in new/ or cur/ is written again to new/.
// A Maildir has one writing process, since a second one would replay and delete the first one's
// journal: the writer holds journal.lock (proper-lockfile: a directory whose mtime it keeps fresh).
// A writer that died leaves it stale after 10 s; a new one waits that long for it at open().
import { closeSync, openSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { byteLength } from './sink.js';
import { encodeRecordHead, JournalSegment, listSegments, readSegment, syncFileSystem, type JournalRecord } from './maildir-journal.js';

export interface MaildirWriterOptions {
  /** How long a segment with records may wait before a checkpoint (ms). */
  checkpointMs?: number;
  /** Size at which a segment is rotated and checkpointed without waiting (bytes). */
  segmentBytes?: number;
  /** How long open() waits for the lock of a writer that may have died (ms). */
  lockWaitMs?: number;
}

/** A lock not refreshed for this long belongs to a writer that died. */
const LOCK_STALE_MS = 10_000;
const DEFAULTS: Required<MaildirWriterOptions> = { checkpointMs: 1000, segmentBytes: 64 * 1024 * 1024, lockWaitMs: LOCK_STALE_MS + 5_000 };
/** Segments waiting for a checkpoint that keeps failing, beyond which writes are refused. */
const MAX_PENDING_SEGMENTS = 16;

interface Job {
  name: string;
  /** The message, in the pieces it arrived in. */
  parts: readonly Uint8Array[];
  meta?: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class MaildirWriter {
  private queue: Job[] = [];
  private flushing?: Promise<void>;
  /** Rotated segments whose records are in the Maildir, waiting for a checkpoint. */
  private pending: JournalSegment[] = [];
  private checkpointing?: Promise<void>;
  private checkpointError?: Error;
  private timer?: NodeJS.Timeout;
  private rotateDue = false;
  /** A failed append or flush leaves the segment's tail undefined: nothing more goes after it. */
  private broken?: Error;
  private closed = false;
  /** Set if another process took the lock (ours went stale): nothing more is written. */
  private lockLost?: Error;

  private constructor(
    readonly dir: string,
    private segment: JournalSegment,
    private readonly options: Required<MaildirWriterOptions>,
    private readonly unlock: () => Promise<void>,
  ) {}

  /** Takes the lock, redoes and checkpoints what an earlier writer left in journal/, starts a new segment. */
  static async open(dir: string, options: MaildirWriterOptions = {}): Promise<MaildirWriter> {
    const opts = { ...DEFAULTS, ...options };
    const journalDir = join(dir, 'journal');
    let writer: MaildirWriter | undefined;
    const unlock = await lockfile
      .lock(journalDir, {
        stale: LOCK_STALE_MS,
        realpath: false,
        retries: { retries: Math.ceil(opts.lockWaitMs / 500), factor: 1, minTimeout: 500, maxTimeout: 500 },
        onCompromised: (err) => {
          const lost = new Error(`maildir ${dir}: lost its lock ${journalDir}.lock (${err.message}); restart the collector`);
          if (writer) writer.lockLost = lost;
        },
      })
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ELOCKED') throw err;
        throw new Error(`maildir ${dir} is in use by another process (${journalDir}.lock is held and kept fresh): a maildir has one writing process`);
      });
    try {
      const left = await listSegments(journalDir);
      await redo(dir, left);
      await syncFileSystem(dir); // also proves, before the first message, that checkpoints can work
      for (const s of left) await rm(s.path, { force: true });
      const segment = await JournalSegment.create(journalDir, (left.at(-1)?.seq ?? 0) + 1);
      writer = new MaildirWriter(dir, segment, opts, unlock);
      return writer;
    } catch (err) {
      await unlock().catch(() => undefined);
      throw err;
    }
  }

  /** Resolves once new/NAME holds the message durably (and meta/NAME holds `meta`, when given). */
  write(name: string, parts: readonly Uint8Array[], meta?: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`maildir ${this.dir} is closed`));
    if (this.lockLost) return Promise.reject(this.lockLost);
    if (this.checkpointError && this.pending.length >= MAX_PENDING_SEGMENTS) {
      const refused = new Error(`maildir ${this.dir}: ${this.pending.length} journal segments wait for a checkpoint that keeps failing: ${this.checkpointError.message}`);
      this.startCheckpoint(); // once it succeeds, writes are taken again
      return Promise.reject(refused);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ name, parts, meta, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** Waits for the batches in progress, checkpoints everything and removes the journal. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.flushing;
    await this.checkpointing;
    this.pending.push(this.segment);
    // If this fails the segments stay, and the next open() redoes them: nothing is lost.
    await this.checkpoint().catch(() => undefined);
    await this.unlock().catch(() => undefined); // already released if it was lost
  }

  private async drain(): Promise<void> {
    // Let every session whose message completed in this turn of the event loop join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0 || this.rotateDue) {
      const batch = this.queue;
      this.queue = [];
      if (this.broken || (this.rotateDue && this.segment.size > 0) || this.segment.size >= this.options.segmentBytes) {
        this.rotateDue = false;
        try {
          await this.rotate();
        } catch (err) {
          // Without a usable segment nothing can be made durable; with one, carry on and try later.
          if (this.broken) {
            for (const job of batch) job.reject(err as Error);
            continue;
          }
        }
      }
      this.rotateDue = false;
      if (batch.length > 0) await this.commit(batch);
    }
    this.flushing = undefined;
  }

  private async commit(batch: Job[]): Promise<void> {
    const written = batch.filter((job) => this.materialize(job));
    if (written.length === 0) return;
    try {
      this.segment.append(written.map((job) => ({ head: encodeRecordHead({ name: job.name, meta: job.meta, body: job.parts }), body: job.parts })));
      await this.segment.sync();
    } catch (err) {
      this.broken = err as Error;
      for (const job of written) {
        // The sender is told to retry; the files would make it a duplicate.
        removeQuietly(join(this.dir, 'new', job.name));
        if (job.meta) removeQuietly(join(this.dir, 'meta', job.name));
        job.reject(err as Error);
      }
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.rotateDue = true;
      this.flushing ??= this.drain();
    }, this.options.checkpointMs).unref();
    for (const job of written) job.resolve();
  }

  /** 1. The message's files, in the page cache; on failure the job is rejected and leaves nothing. */
  private materialize(job: Job): boolean {
    const tmp = join(this.dir, 'tmp', job.name);
    const meta = join(this.dir, 'meta', job.name);
    try {
      writeWhole(tmp, job.parts);
      if (job.meta) writeWhole(meta, [job.meta]);
      renameSync(tmp, join(this.dir, 'new', job.name));
      return true;
    } catch (err) {
      removeQuietly(tmp);
      if (job.meta) removeQuietly(meta);
      job.reject(err as Error);
      return false;
    }
  }

  private async rotate(): Promise<void> {
    const next = await JournalSegment.create(join(this.dir, 'journal'), this.segment.seq + 1);
    this.pending.push(this.segment);
    this.segment = next;
    this.broken = undefined;
    this.startCheckpoint();
  }

  private startCheckpoint(): void {
    this.checkpointing ??= this.checkpoint()
      .catch((err: Error) => void (this.checkpointError = err))
      .finally(() => (this.checkpointing = undefined));
  }

  /** Flushes the file system, then deletes the segments that were complete before the flush. */
  private async checkpoint(): Promise<void> {
    while (this.pending.length > 0) {
      const covered = this.pending;
      this.pending = [];
      try {
        await syncFileSystem(this.dir);
      } catch (err) {
        this.pending = [...covered, ...this.pending];
        throw err;
      }
      this.checkpointError = undefined;
      for (const s of covered) s.remove();
    }
  }
}

/**
 * Writes again, into new/, each journaled message that is not intact in new/ or cur/ (a crash lost
 * what was only in the page cache), with its metadata. The forwarder replays new/ at start-up.
 */
async function redo(dir: string, segments: { path: string }[]): Promise<void> {
  let cur: Map<string, string> | undefined;
  for (const segment of segments) {
    for (const record of await readSegment(segment.path)) {
      const metaPath = join(dir, 'meta', record.name);
      if (await holds(join(dir, 'new', record.name), record.body)) {
        // A later rewrite of the metadata (SpoolStore.recordConfirmed) was flushed on its own: keep it.
        if (record.meta && !(await exists(metaPath))) await writeFile(metaPath, record.meta, { mode: 0o600 });
        continue;
      }
      cur ??= await curNames(dir);
      const forwarded = cur.get(record.name);
      if (forwarded !== undefined) {
        if (await holds(join(dir, 'cur', forwarded), record.body)) continue;
        await rm(join(dir, 'cur', forwarded), { force: true }); // damaged: the journal has the real bytes
      }
      await restore(dir, record);
    }
  }
}

async function restore(dir: string, record: JournalRecord): Promise<void> {
  const tmp = join(dir, 'tmp', record.name);
  await writeFile(tmp, record.body, { mode: 0o600 });
  if (record.meta) await writeFile(join(dir, 'meta', record.name), record.meta, { mode: 0o600 });
  await rename(tmp, join(dir, 'new', record.name));
}

/** cur/ by message name (the part before the ":2,…" flags). */
async function curNames(dir: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const file of await readdir(join(dir, 'cur'))) {
    const colon = file.indexOf(':');
    names.set(colon === -1 ? file : file.slice(0, colon), file);
  }
  return names;
}

async function holds(path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    return (await readFile(path)).equals(bytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function writeWhole(path: string, parts: readonly Uint8Array[]): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    const want = byteLength(parts);
    const written = writevSync(fd, parts);
    if (written !== want) throw new Error(`${path}: short write (${written} of ${want} bytes)`);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
