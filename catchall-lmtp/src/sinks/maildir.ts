// A Maildir (tmp/ → new/ → cur/) holding exact message bytes. A message is written to tmp/ and
// renamed into new/, so a reader never sees a partial file; once add() resolves it survives a crash,
// through the write-ahead journal in journal/ (see maildir-writer.ts). Concurrent add() calls are
// committed in batches, so the caller gets group commit by simply not awaiting one write before
// starting the next. Used two ways:
//   - MaildirSink: the archive (`type: maildir` sink), every message lands in new/;
//   - the spool (spool mode): new/ is the outbox; markDelivered() moves a forwarded message to cur/,
//     prune() applies the retention to cur/.
// A message may carry metadata (e.g. its envelope, as JSON) in meta/<name>: the message bytes stay
// untouched, and the metadata is durable with the message. One process writes to a Maildir.
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { MaildirSinkConfig } from '../config/schema.js';
import { MaildirWriter, type MaildirWriterOptions } from './maildir-writer.js';
import { partsOf, SinkError, type CollectedMessage, type Sink } from './sink.js';

/** The Maildir convention: a file left in tmp/ this long belongs to a writer that died. */
const STALE_TMP_MS = 36 * 3600 * 1000;
/** Suffix of a message in cur/ (Maildir "info" with no flags). */
const INFO = ':2,';

export interface RetentionPolicy {
  /** Delete messages in cur/ delivered longer ago than this; 0 or absent keeps them. */
  maxAgeMs?: number;
  /** Keep at most this many messages in cur/ (the newest); 0 or absent: no limit. */
  maxCount?: number;
}

export interface StoredMessage {
  bytes: Buffer;
  /** What was passed as `meta` to add(), if anything. */
  meta?: Buffer;
}

export class Maildir {
  private seq = 0;
  /** Random per Maildir object: with the pid and sequence, tells apart processes that reuse a pid (containers). */
  private readonly instance = randomBytes(4).toString('hex');
  private readonly host: string;
  private writer?: MaildirWriter;

  constructor(
    readonly dir: string,
    private readonly options: { hostname?: string; journal?: MaildirWriterOptions } = {},
  ) {
    // '/' and ':' cannot appear in a Maildir name; the convention escapes them in octal.
    this.host = (options.hostname ?? hostname()).replace(/\//g, '\\057').replace(/:/g, '\\072');
  }

  /** Creates the directories if needed and removes stale files in tmp/. */
  async open(): Promise<void> {
    if (this.writer) return;
    for (const sub of ['tmp', 'new', 'cur', 'meta', 'journal']) await mkdir(join(this.dir, sub), { recursive: true, mode: 0o700 });
    const root = await open(this.dir, 'r');
    try {
      await root.sync(); // the subdirectories themselves must survive a crash
    } finally {
      await root.close();
    }
    this.writer = await MaildirWriter.open(this.dir, this.options.journal);
    await this.removeStaleTmp(Date.now());
  }

  async close(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close();
  }

  /** Stores the exact bytes (whole or in pieces); resolves with the message's name in new/ once it is durable. */
  async add(bytes: Uint8Array | readonly Uint8Array[], meta?: Uint8Array): Promise<string> {
    if (!this.writer) throw new Error(`maildir ${this.dir} is not open`);
    const name = this.uniqueName();
    await this.writer.write(name, bytes instanceof Uint8Array ? [bytes] : bytes, meta);
    return name;
  }

  /** Names of the messages in new/, oldest first. */
  async listNew(): Promise<string[]> {
    return (await readdir(join(this.dir, 'new'))).filter((n) => !n.startsWith('.')).sort();
  }

  /** Reads a message from new/ with its metadata. */
  async readNew(name: string): Promise<StoredMessage> {
    const bytes = await readFile(join(this.dir, 'new', name));
    const meta = await readFile(join(this.dir, 'meta', name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    return meta === undefined ? { bytes } : { bytes, meta };
  }

  /**
   * Moves a message from new/ to cur/ (forwarded). Deliberately neither fsynced nor sent through the
   * thread pool: losing this rename in a crash only means the message is published once more after
   * the restart (never lost), and the flushes that LMTP replies wait for need the disk and the pool.
   */
  markDelivered(name: string): void {
    renameSync(join(this.dir, 'new', name), join(this.dir, 'cur', name + INFO));
  }

  /**
   * Deletes messages in cur/ (and their metadata) beyond the retention, by the time they were
   * received; returns how many. Also removes leftovers of writers that died: stale files in tmp/,
   * and metadata whose message never made it into new/.
   */
  async prune(policy: RetentionPolicy, now = Date.now()): Promise<number> {
    const names = (await readdir(join(this.dir, 'cur'))).filter((n) => !n.startsWith('.'));
    const dated = await Promise.all(names.map(async (name) => ({ name, time: await this.receivedAt(name) })));
    dated.sort((a, b) => b.time - a.time); // newest first
    const doomed = dated.filter(
      ({ time }, i) => (policy.maxAgeMs ? now - time > policy.maxAgeMs : false) || (policy.maxCount ? i >= policy.maxCount : false),
    );
    for (const { name } of doomed) {
      await rm(join(this.dir, 'cur', name), { force: true });
      await rm(join(this.dir, 'meta', baseName(name)), { force: true });
    }
    await this.removeStaleTmp(now);
    await this.removeOrphanMeta(now, names);
    return doomed.length;
  }

  /**
   * `<seconds>.M<microseconds>P<pid>Q<sequence>R<random>.<host>`: sorts by time, unique across
   * processes. The random part is drawn once per Maildir (per message it was 1.6% of spool mode's CPU).
   */
  private uniqueName(): string {
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    const seconds = Math.floor(us / 1e6);
    const micro = String(us % 1e6).padStart(6, '0');
    return `${seconds}.M${micro}P${process.pid}Q${this.seq++}R${this.instance}.${this.host}`;
  }

  /** When a message in cur/ was received: from our name's timestamp, else the file's mtime. */
  private async receivedAt(name: string): Promise<number> {
    return nameTime(name) ?? (await stat(join(this.dir, 'cur', name))).mtimeMs;
  }

  private async removeStaleTmp(now: number): Promise<void> {
    for (const name of await readdir(join(this.dir, 'tmp'))) {
      const path = join(this.dir, 'tmp', name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_TMP_MS) await rm(path, { force: true });
    }
  }

  /** Metadata written just before a crash that came before the message's rename into new/. */
  private async removeOrphanMeta(now: number, curNames: string[]): Promise<void> {
    const known = new Set([...(await this.listNew()), ...curNames.map(baseName)]);
    for (const name of await readdir(join(this.dir, 'meta'))) {
      const time = nameTime(name);
      if (!known.has(name) && time !== undefined && now - time > STALE_TMP_MS) await rm(join(this.dir, 'meta', name), { force: true });
    }
  }
}

/** The time (ms) at the start of a name in our format, if it is one. */
function nameTime(name: string): number | undefined {
  const m = /^(\d+)\.M(\d{6})/.exec(name);
  return m ? Number(m[1]) * 1000 + Math.floor(Number(m[2]) / 1000) : undefined;
}

function baseName(curName: string): string {
  const colon = curName.indexOf(':');
  return colon === -1 ? curName : curName.slice(0, colon);
}

/** The archive: every message is added to new/ of the maildir. */
export class MaildirSink implements Sink {
  readonly name: string;
  private readonly maildir: Maildir;
  private opening?: Promise<void>;
  private ready = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    options: Pick<MaildirSinkConfig, 'dir'> & { hostname?: string },
    private readonly deps: { logger: Logger },
  ) {
    this.name = `maildir:${options.dir}`;
    this.maildir = new Maildir(options.dir, options);
  }

  /** An unusable directory is logged, not fatal: deliver() tries again and answers 4xx meanwhile. */
  async start(): Promise<void> {
    await this.ensureOpen().catch(() => undefined);
  }

  async deliver(message: CollectedMessage): Promise<void> {
    const adding = this.ensureOpen().then(() => this.maildir.add(partsOf(message)));
    this.inFlight.add(adding);
    try {
      await adding;
      this.ready = true;
    } catch (err) {
      this.ready = false;
      throw new SinkError(this.name, `cannot store the message: ${(err as Error).message}`, { cause: err });
    } finally {
      this.inFlight.delete(adding);
    }
  }

  isReady(): boolean {
    return this.ready;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.ready = false;
    await this.maildir.close();
  }

  private ensureOpen(): Promise<void> {
    this.opening ??= this.maildir.open().then(
      () => {
        this.ready = true;
        this.deps.logger.info({ sink: this.name, dir: this.maildir.dir }, 'maildir ready');
      },
      (err: Error) => {
        this.opening = undefined;
        this.ready = false;
        this.deps.logger.error({ sink: this.name, dir: this.maildir.dir, err: err.message }, 'maildir not usable');
        throw err;
      },
    );
    return this.opening;
  }
}
