// The reference broker's `--auth FILE.json`: {"<ident>": {owner, secret, pubchans: [], subchans: []}}.
// The file is re-read when it changes. fs.watch on the directory catches in-place writes and the
// rename editors do; a stat poll backs it up where fs.watch is unreliable (network or bind mounts).
// A broken edit is logged and the previous, valid database stays in force.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AuthConfigError, type AuthRecord, type AuthStore } from './auth-store.js';

const entrySchema = z.object({
  owner: z.string(),
  secret: z.string().min(1),
  pubchans: z.array(z.string()),
  subchans: z.array(z.string()),
});
const fileSchema = z.record(z.string(), entrySchema);

export interface JsonFileAuthStoreOptions {
  logger?: Logger;
  /** Stat-poll interval backing up fs.watch. */
  pollIntervalMs?: number;
}

/** Events: 'reloaded' (idents: number), 'reload-failed' (error: AuthConfigError). */
export class JsonFileAuthStore extends EventEmitter implements AuthStore {
  private records: Map<string, AuthRecord>;
  private readonly watcher: fs.FSWatcher | undefined;
  private readonly logger: Logger | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Reads the file once (throwing AuthConfigError if it is invalid) and starts watching it. */
  constructor(readonly file: string, opts: JsonFileAuthStoreOptions = {}) {
    super();
    this.file = path.resolve(file);
    this.logger = opts.logger;
    this.records = readAuthFile(this.file);
    try {
      this.watcher = fs.watch(path.dirname(this.file), (_event, name) => {
        if (name === null || name.toString() === path.basename(this.file)) this.scheduleReload();
      });
      this.watcher.on('error', (err) => this.logger?.warn({ err, file: this.file }, 'auth file watch failed; polling only'));
    } catch (err) {
      this.logger?.warn({ err, file: this.file }, 'cannot watch auth file directory; polling only');
    }
    fs.watchFile(this.file, { interval: opts.pollIntervalMs ?? 2000, persistent: false }, this.onPoll);
  }

  async lookup(ident: string): Promise<AuthRecord | undefined> {
    return this.records.get(ident);
  }

  size(): number {
    return this.records.size;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    fs.unwatchFile(this.file, this.onPoll);
  }

  private readonly onPoll = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.scheduleReload();
  };

  // Editors write in several steps; a short debounce reads the file once it is complete.
  private scheduleReload(): void {
    if (this.closed) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.reload(), 50);
  }

  private reload(): void {
    if (this.closed) return;
    try {
      this.records = readAuthFile(this.file);
      this.logger?.info({ file: this.file, idents: this.records.size }, 'auth file reloaded');
      this.emit('reloaded', this.records.size);
    } catch (err) {
      this.logger?.error({ err, file: this.file }, 'auth file reload failed; keeping the previous database');
      this.emit('reload-failed', err);
    }
  }
}

/** Parses and validates an auth file; errors name the file and the offending key. */
export function readAuthFile(file: string): Map<string, AuthRecord> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`cannot read auth file ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AuthConfigError(`auth file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new AuthConfigError(`auth file ${file}: ${where}: ${issue?.message ?? 'invalid'} (expected {"<ident>": {"owner", "secret", "pubchans": [], "subchans": []}})`);
  }
  return new Map(Object.entries(parsed.data).map(([ident, e]) => [ident, { ident, ...e }]));
}
