// Group commit for directory fsyncs. A rename into a Maildir directory is durable only once the
// directory is fsynced; one fsync covers every rename that completed before it started. So callers
// that arrive while an fsync is running share the next one, and N concurrent writers cost about
// two directory fsyncs instead of N.
import { open, type FileHandle } from 'node:fs/promises';

export class GroupFsync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<GroupFsync> {
    return new GroupFsync(path, await open(path, 'r'));
  }

  /** Resolves once an fsync of the directory that started after this call has completed. */
  sync(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) return this.start();
    // The running fsync may have begun before the caller's rename: wait for a fresh one.
    this.next = this.running
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.start();
      });
    return this.next;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.next]);
    await this.handle.close();
  }

  private start(): Promise<void> {
    const run = this.handle.sync().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }
}
