// The Maildir's write-ahead journal: what makes a batch of messages durable with one device flush.
// Flushing a file costs about as much as flushing a whole batch appended to one file (on our disk
// ~0.2 ms per file and ~0.4 ms per directory, against ~0.3 ms for a batch), so each message's own files
// (tmp/ → new/, meta/) only go to the page cache, and the batch is appended to journal/<seq> and that
// one file is fdatasync'ed. A checkpoint then flushes the whole file system at once (syncfs, through
// coreutils' `sync -f`: Node has no binding for it) and deletes the segments written before it.
//
// A record: magic | name length | meta length | body length | crc32 of what follows the crc | name |
// meta | body, lengths and crc as little-endian u32. A record that is cut short or fails its crc ends
// the segment: it belongs to the batch being written at a crash, which nobody was told was stored.
import { execFile } from 'node:child_process';
import { closeSync, fdatasync, fsync, openSync, rmSync, unlinkSync, writevSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { byteLength } from './sink.js';

const MAGIC = 0x3152_4a4d; // "MJR1"
const HEAD = 20;
const SEGMENT_NAME = /^(\d{12})\.journal$/;

export interface JournalRecord {
  name: string;
  meta?: Uint8Array;
  body: Uint8Array;
}

/**
 * The head of a record (magic, lengths, crc) with its name and metadata; the body follows it. The
 * body may be given in pieces, as a message arrived.
 */
export function encodeRecordHead(record: Omit<JournalRecord, 'body'> & { body: Uint8Array | readonly Uint8Array[] }): Buffer {
  const body = record.body instanceof Uint8Array ? [record.body] : record.body;
  const name = Buffer.from(record.name, 'utf8');
  const meta = record.meta ?? new Uint8Array(0);
  const head = Buffer.allocUnsafe(HEAD + name.length + meta.length);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(name.length, 4);
  head.writeUInt32LE(meta.length, 8);
  head.writeUInt32LE(byteLength(body), 12);
  name.copy(head, HEAD);
  head.set(meta, HEAD + name.length);
  let crc = crc32(head.subarray(4, 16));
  crc = crc32(head.subarray(HEAD), crc);
  for (const part of body) crc = crc32(part, crc);
  head.writeUInt32LE(crc, 16);
  return head;
}

/** The records of one segment, up to the first one that is incomplete or damaged. */
export function decodeSegment(bytes: Buffer): JournalRecord[] {
  const records: JournalRecord[] = [];
  let off = 0;
  while (off + HEAD <= bytes.length && bytes.readUInt32LE(off) === MAGIC) {
    const nameLength = bytes.readUInt32LE(off + 4);
    const metaLength = bytes.readUInt32LE(off + 8);
    const bodyLength = bytes.readUInt32LE(off + 12);
    const end = off + HEAD + nameLength + metaLength + bodyLength;
    if (end > bytes.length) break;
    let crc = crc32(bytes.subarray(off + 4, off + 16));
    crc = crc32(bytes.subarray(off + HEAD, end), crc);
    if (crc !== bytes.readUInt32LE(off + 16)) break;
    const name = bytes.toString('utf8', off + HEAD, off + HEAD + nameLength);
    const metaStart = off + HEAD + nameLength;
    const body = bytes.subarray(metaStart + metaLength, end);
    records.push(metaLength > 0 ? { name, meta: bytes.subarray(metaStart, metaStart + metaLength), body } : { name, body });
    off = end;
  }
  return records;
}

/** One journal file being appended to. */
export class JournalSegment {
  size = 0;

  private constructor(
    readonly path: string,
    readonly seq: number,
    private readonly fd: number,
  ) {}

  /** Creates journal/<seq>.journal and makes its directory entry durable. */
  static async create(journalDir: string, seq: number): Promise<JournalSegment> {
    const path = join(journalDir, `${String(seq).padStart(12, '0')}.journal`);
    const fd = openSync(path, 'wx', 0o600);
    try {
      await syncPath(journalDir);
    } catch (err) {
      closeSync(fd);
      unlinkSync(path);
      throw err;
    }
    return new JournalSegment(path, seq, fd);
  }

  /** Appends the records (page cache only); throws if not all of it was written. */
  append(records: { head: Buffer; body: readonly Uint8Array[] }[]): void {
    const buffers: Uint8Array[] = [];
    for (const r of records) buffers.push(r.head, ...r.body);
    const total = byteLength(buffers);
    // libuv writes all of it, in as many writev(2) calls as it takes (IOV_MAX, short writes)
    const written = writevSync(this.fd, buffers, this.size);
    if (written !== total) throw new Error(`journal ${this.path}: short write (${written} of ${total} bytes)`);
    this.size += total;
  }

  /** Flushes what was appended. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Closes and deletes the file (after a checkpoint: what it held is on disk in the Maildir). */
  remove(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closing can only fail for a bad fd; the file goes either way
    }
    rmSync(this.path, { force: true });
  }
}

/** The segments a previous process left, in the order they were written, with their sequence numbers. */
export async function listSegments(journalDir: string): Promise<{ path: string; seq: number }[]> {
  const found: { path: string; seq: number }[] = [];
  for (const name of await readdir(journalDir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m) found.push({ path: join(journalDir, name), seq: Number(m[1]) });
  }
  return found.sort((a, b) => a.seq - b.seq);
}

export async function readSegment(path: string): Promise<JournalRecord[]> {
  return decodeSegment(await readFile(path));
}

/**
 * Flushes every dirty page of the file system holding `dir` (syncfs(2)), the one call that makes all
 * of a checkpoint's files durable at once.
 */
export function syncFileSystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the `sync` command (coreutils) is not installed' : stderr.trim() || err.message;
      reject(new Error(`cannot flush the file system holding ${dir} (sync -f): ${why}`));
    });
  });
}

function syncPath(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  return new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve()))).finally(() => closeSync(fd));
}
