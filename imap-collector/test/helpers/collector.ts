// Runs the collector for a test: the real binary (exit codes, signals) or, quicker, in this process
// through the same loading and wiring as the binary; either way with its pino log lines at hand.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import { createCollector, loadSettings, type Settings } from '../../src/app.js';
import type { WorkerOutcome } from '../../src/imap/mailbox-worker.js';
import type { ImapCollectorService } from '../../src/service.js';
import { waitUntil } from './wait.js';

const BIN = fileURLToPath(new URL('../../bin/imap-collector.js', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; level?: string | number };

export interface Mailbox {
  username: string;
  password: string;
  port: number;
  tls?: 'implicit' | 'starttls' | 'none';
  verify_cert?: boolean;
  host?: string;
  mailbox?: string;
}

/** Writes the feed config (a `sinks:` list) and the mailbox list; returns the two paths. */
export async function writeConfigs(dir: string, sinks: Record<string, unknown>[], mailboxes: Mailbox[]): Promise<{ feed: string; mailboxes: string }> {
  const feed = path.join(dir, `feed-${Math.random().toString(36).slice(2)}.yml`);
  const boxes = path.join(dir, `mailboxes-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(feed, stringify({ sinks }));
  await writeFile(boxes, stringify(mailboxes.map((m) => ({ host: '127.0.0.1', protocol: 'imap', ...m }))));
  return { feed, mailboxes: boxes };
}

/** The imap-collector binary as a child process. */
export class CollectorProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<number>;

  /** `cwd` should be a temp dir: a .env there would be loaded. */
  constructor(args: string[], options: { env?: NodeJS.ProcessEnv; cwd: string }) {
    const child = spawn(process.execPath, [BIN, ...args], {
      // A clean environment: no AMQP_/HPFEEDS_ variables of the developer leak in.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  }

  /** Waits for a log line matching `match` (bounded). */
  async waitForLog(match: (l: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    await waitUntil(() => this.logs.some(match) || this.child.exitCode !== null, 'a log line', timeoutMs);
    const found = this.logs.find(match);
    if (!found) throw new Error(`the collector exited (${this.child.exitCode}) without that log line; ${this.describe()}`);
    return found;
  }

  /** The exit code; kills the process if it has not ended within `timeoutMs`. */
  async exit(timeoutMs = 30_000): Promise<number> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, as docker stop sends it; returns the exit code. */
  async stop(): Promise<number> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exit(15_000);
  }

  messages(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  describe(): string {
    return `stderr: ${this.stderr}\nlogs:\n${this.logs.map((l) => JSON.stringify(l)).join('\n')}`;
  }
}

/** A one-shot run: the exit code and everything it logged. */
export async function runCollector(args: string[], options: { env?: NodeJS.ProcessEnv; cwd: string }): Promise<CollectorProcess & { code: number }> {
  const p = new CollectorProcess(args, options);
  const code = await p.exit();
  return Object.assign(p, { code });
}

/** Captures a logger's lines so tests can look at what the collector said. */
export function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

export type RunOptions = Partial<Omit<Settings, 'mailboxConfig' | 'env'>> & { mailboxConfig: string; env?: NodeJS.ProcessEnv };

function settings(o: RunOptions, dir: string): Settings {
  return {
    fetchAll: false,
    deleteAfter: false,
    continuous: false,
    stateDir: path.join(dir, 'state'),
    sinkWaitMs: 5_000,
    verbose: false,
    env: {},
    ...o,
  };
}

/** One-shot run in this process, through the same loading and wiring as the CLI. */
export async function collectOnce(dir: string, o: RunOptions): Promise<{ outcomes: WorkerOutcome[]; logs: LogLine[]; failed: string[] }> {
  const { logger, lines } = captureLogs();
  const service = createCollector(await loadSettings(settings(o, dir)), logger);
  try {
    await service.start();
    const outcomes = await service.done();
    return { outcomes, logs: lines, failed: outcomes.filter((x) => x.error !== undefined).map((x) => x.mailbox) };
  } finally {
    await service.stop();
  }
}

/** A continuous (-c) collector in this process; stop() it in the test's cleanup. */
export async function startContinuous(dir: string, o: RunOptions): Promise<{ service: ImapCollectorService; logs: LogLine[] }> {
  const { logger, lines } = captureLogs();
  const service = createCollector(await loadSettings({ ...settings(o, dir), continuous: true }), logger);
  await service.start();
  return { service, logs: lines };
}
