// Runs the real LMTP clients the tests use: swaks and Postfix's smtp-source.
import { execFile } from 'node:child_process';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'latin1' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** swaks speaking LMTP to our server; returns the transcript. */
export function swaks(target: { port: number } | { socket: string }, args: string[]): Promise<ToolResult> {
  const where = 'socket' in target ? ['--socket', target.socket] : ['--server', '127.0.0.1', '--port', String(target.port)];
  return run('swaks', [...where, '--protocol', 'LMTP', '--from', 'sender@example.net', ...args]);
}

/** The server's replies in a swaks transcript ("<-  250 ..." lines; "<** 451 ..." for errors). */
export function serverReplies(transcript: string): string[] {
  return transcript
    .split('\n')
    .filter((l) => /^<(-|\*\*) /.test(l))
    .map((l) => l.replace(/^<(-|\*\*)\s+/, ''));
}

export const SMTP_SOURCE = '/usr/sbin/smtp-source';
