// Runs the real catchall-lmtp command (bin/catchall-lmtp.js) as a child process and finds the ports
// it bound (port 0 everywhere) in its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/catchall-lmtp.js', import.meta.url));

export interface RunningCollector {
  child: ChildProcess;
  lmtpPort: number;
  metricsPort: number;
  logs: () => Array<Record<string, unknown>>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs to completion (for --help, bad config…) in `cwd` (where a default .env is looked for): exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, cwd = '/'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running collector and waits until it listens (or fails). */
export async function startCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<RunningCollector> {
  const child = spawn(process.execPath, [BIN, '-p', '0', '--metrics-port', '0', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = new Promise<{ lmtpPort: number; metricsPort: number }>((resolve, reject) => {
    let metricsPort = 0;
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let eol: number;
      while ((eol = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, eol);
        buffered = buffered.slice(eol + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          lines.push(entry);
          if (entry.msg === 'metrics and health endpoints listening') metricsPort = entry.port as number;
          if (entry.msg === 'collector started') resolve({ lmtpPort: (entry.lmtp as { port: number }).port, metricsPort });
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    void exited.then((code) => reject(new Error(`collector exited with ${code} before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`collector did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs).unref();
  });
  try {
    const ports = await started;
    return {
      child,
      ...ports,
      logs: () => lines,
      exited,
      stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}
