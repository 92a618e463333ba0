// A long-running child process (collector, hpfeeds broker, watcher) for one test file: its output is
// kept for assertions and error messages, and stop() always ends it, SIGKILL if SIGTERM is ignored.
import { spawn, type ChildProcess } from 'node:child_process';
import { eventually, GiveUp } from './wait.js';

export class Service {
  private output = '';
  private readonly exited: Promise<number | null>;

  private constructor(readonly name: string, private readonly child: ChildProcess) {
    const keep = (chunk: Buffer) => (this.output += chunk.toString('utf8'));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** env is the complete environment (default: this process's). */
  static start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Service {
    // detached: its own process group, so stop() also reaches whatever it started.
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    return new Service(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything the process printed so far (for assertions and failure messages). */
  get log(): string {
    return this.output;
  }

  /** The parsed JSON log lines (pino), ignoring anything else. */
  jsonLines(): Record<string, unknown>[] {
    return this.output.split('\n').flatMap((line) => {
      try {
        const v: unknown = JSON.parse(line);
        return v && typeof v === 'object' ? [v as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  /** Waits for a log line matching check; fails early, with the log, if the process exits first. */
  async waitForLine(what: string, check: (line: Record<string, unknown>) => boolean, ms = 20_000): Promise<Record<string, unknown>> {
    return eventually(`${this.name}: ${what}`, () => {
      const hit = this.jsonLines().find(check);
      if (hit) return hit;
      if (!this.running) throw new GiveUp(`${this.name} exited (code ${this.child.exitCode}):\n${this.output.slice(-2000)}`);
      return undefined;
    }, ms);
  }

  /** Sends a signal to the process itself only (as `docker stop` does to PID 1), not its group. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, sig);
  }

  async stop(ms = 15_000): Promise<void> {
    if (!this.running) return;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, sig);
      } catch {
        /* already gone */
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  /** The exit code once the process ends by itself (e.g. a bad option). */
  exitCode(): Promise<number | null> {
    return this.exited;
  }
}
