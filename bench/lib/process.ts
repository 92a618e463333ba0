// Child processes of a benchmark run: started with a bounded wait for readiness, always stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote (stdout + stderr), kept for error messages. */
  output(): string;
  /** Resolves with the first stdout/stderr line matching `re` (its match), or rejects on exit or timeout. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const live = new Set<Child>();

export function startChild(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; keepOutput?: number; logFile?: string } = {},
): Child {
  // A chatty service (one log line per message) writes to a file, so that reading its logs does not
  // cost the bench process CPU during a measurement; output() then reads the file's tail.
  const logFd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a');
  const proc = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
  });
  if (logFd !== undefined) closeSync(logFd);
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const keep = opts.keepOutput ?? 64 * 1024;
  let out = '';
  const lineWaiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  let partial = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    out = (out + text).slice(-keep);
    if (lineWaiters.length === 0) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      for (let i = lineWaiters.length - 1; i >= 0; i--) {
        const w = lineWaiters[i]!;
        const m = line.match(w.re);
        if (m) {
          lineWaiters.splice(i, 1);
          w.resolve(m);
        }
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    exited,
    output: () => (opts.logFile === undefined ? out : tail(opts.logFile, keep)),
    waitForLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms\n${out}`)), timeoutMs);
        const done = (m: RegExpMatchArray): void => {
          clearTimeout(timer);
          resolve(m);
        };
        lineWaiters.push({ re, resolve: done });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}) before printing ${re}\n${out}`));
        });
      });
    },
    async stop(graceMs = 5000) {
      live.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  live.add(child);
  return child;
}

/** Kills whatever is still running (used when a run fails half-way). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(2000)));
}

/** A port that was free a moment ago (for programs that cannot report the port they bound). */
export { freePort } from '../../e2e/helpers/ports.js';

/** Resolves once a TCP connect to host:port succeeds; rejects after `timeoutMs` or if `child` exits. */
export async function waitForPort(port: number, timeoutMs: number, child?: Child, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(`${child.name} exited (code ${child.proc.exitCode}) before listening on ${port}\n${child.output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Polls `check` until it returns true; rejects with `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs a command to completion with a time bound; rejects on a non-zero exit or timeout. */
export async function run(
  command: string,
  args: string[],
  opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ output: string; ms: number }> {
  const started = performance.now();
  const child = startChild(command, command, args, opts);
  const timer = setTimeout(() => void child.stop(1000), opts.timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  live.delete(child);
  const ms = performance.now() - started;
  if (code !== 0) {
    const why = code === null ? `killed after the ${opts.timeoutMs} ms time bound` : `exit code ${code}`;
    throw new Error(`${command} ${args.join(' ')}: ${why}\n${child.output().slice(-4000)}`);
  }
  return { output: child.output(), ms };
}

/** The last `bytes` of a file, as text ('' if it cannot be read). */
export function tail(path: string, bytes: number): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, bytes);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
