// Facts about the machine and the software under test, printed at the top of BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { readFileSync } from 'node:fs';

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  postfix: string;
  python: string;
  aiosmtpd: string;
  rabbitmq: string;
  commit: string;
  /** 1-minute load average when the run started: other work on the machine skews absolute numbers */
  loadAverage: number;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineFacts(): MachineFacts {
  const osRelease = (() => {
    try {
      return readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]+)"?/m)?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  const rabbit = tryRun('rabbitmqctl', ['version']);
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os: osRelease,
    node: process.version,
    postfix: tryRun('/usr/sbin/postconf', ['-h', 'mail_version']),
    python: tryRun('/usr/bin/python3', ['--version']).replace(/^Python /, ''),
    aiosmtpd: tryRun('/usr/bin/python3', ['-c', 'import aiosmtpd; print(aiosmtpd.__version__)']),
    rabbitmq: rabbit.split('\n').pop() ?? 'unknown',
    commit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    loadAverage: loadavg()[0] ?? 0,
  };
}
