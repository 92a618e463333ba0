// Group commit for Maildir deliveries. Making one message durable takes a file flush (fdatasync) and
// a flush of new/ after the rename; flushes are slow, everything else only touches the page cache.
// So messages that arrive while a batch is being flushed form the next batch, and a batch costs:
//   1. create and fill each file (tmp/NAME, and meta/NAME when there is metadata), synchronously:
//      a page-cache copy is cheaper than a round trip through libuv's thread pool;
//   2. fdatasync every file at once, and fsync meta/ (ext4 merges concurrent flushes into one commit);
//   3. rename each tmp/NAME → new/NAME, synchronously;
//   4. one fsync of new/ for the whole batch.
// Metadata is written straight into meta/: it is only ever read for a message in new/, which appears
// there after its metadata is durable. A crash before step 3 leaves an orphan that prune() removes.
import { closeSync, fdatasync, fsync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

interface Job {
  name: string;
  bytes: Uint8Array;
  meta?: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A job whose files exist; `fds` are still open, to be flushed. */
interface Written {
  job: Job;
  fds: number[];
  paths: string[];
}

export class MaildirWriter {
  private queue: Job[] = [];
  private flushing?: Promise<void>;

  private constructor(
    readonly dir: string,
    private readonly newDir: FileHandle,
    private readonly metaDir: FileHandle,
  ) {}

  static async open(dir: string): Promise<MaildirWriter> {
    const [newDir, metaDir] = await Promise.all([open(join(dir, 'new'), 'r'), open(join(dir, 'meta'), 'r')]);
    return new MaildirWriter(dir, newDir, metaDir);
  }

  /** Resolves once new/NAME holds `bytes` durably (and meta/NAME holds `meta`, when given). */
  write(name: string, bytes: Uint8Array, meta?: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ name, bytes, meta, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** Waits for the batches in progress, then releases the directory handles. */
  async close(): Promise<void> {
    await this.flushing;
    await Promise.allSettled([this.newDir.close(), this.metaDir.close()]);
  }

  private async drain(): Promise<void> {
    // Let every session whose message completed in this turn of the event loop join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.commit(batch);
    }
    this.flushing = undefined;
  }

  private async commit(batch: Job[]): Promise<void> {
    const written: Written[] = [];
    for (const job of batch) {
      const w = this.create(job);
      if (w) written.push(w);
    }
    const withMeta = written.some((w) => w.job.meta);
    // 2. every file's data, and meta/'s entries, on disk
    const metaSynced = withMeta ? syncDir(this.metaDir) : Promise.resolve();
    const flushed = await Promise.all(written.map((w) => Promise.all(w.fds.map(datasync)).then(() => null, (err: Error) => err)));
    const metaError = await metaSynced.then(() => null, (err: Error) => err);
    const renamed: Written[] = [];
    written.forEach((w, i) => {
      for (const fd of w.fds) closeQuietly(fd);
      const err = flushed[i] ?? (w.job.meta ? metaError : null);
      if (err) return this.fail(w, err);
      try {
        renameSync(w.paths[0]!, join(this.dir, 'new', w.job.name)); // 3.
        renamed.push(w);
      } catch (e) {
        this.fail(w, e as Error);
      }
    });
    if (renamed.length === 0) return;
    try {
      await syncDir(this.newDir); // 4.
    } catch (err) {
      // The files are in new/ but not durably: the sender is told to retry (at worst a duplicate).
      for (const w of renamed) w.job.reject(err as Error);
      return;
    }
    for (const w of renamed) w.job.resolve();
  }

  /** 1. Creates tmp/NAME (and meta/NAME) with the bytes; on failure rejects the job and cleans up. */
  private create(job: Job): Written | undefined {
    const w: Written = { job, fds: [], paths: [] };
    try {
      writeFile(w, join(this.dir, 'tmp', job.name), job.bytes);
      if (job.meta) writeFile(w, join(this.dir, 'meta', job.name), job.meta);
      return w;
    } catch (err) {
      for (const fd of w.fds) closeQuietly(fd);
      this.fail(w, err as Error);
      return undefined;
    }
  }

  private fail(w: Written, err: Error): void {
    for (const path of w.paths) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    w.job.reject(err);
  }
}

function writeFile(w: Written, path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'wx', 0o600);
  w.fds.push(fd);
  w.paths.push(path);
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function syncDir(dir: FileHandle): Promise<void> {
  return new Promise((resolve, reject) => fsync(dir.fd, (err) => (err ? reject(err) : resolve())));
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closing can only fail for a bad fd; the data was flushed (or the job failed) already
  }
}
