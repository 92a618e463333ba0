// Load from Postfix's own generator, smtp-source. `-d` keeps each session's connection open between
// messages, as Postfix's LMTP client does with its connection cache. smtp-source stops with a non-zero
// exit at the first reply that is not 2xx/3xx, so a 4xx anywhere fails the run.
import { existsSync } from 'node:fs';
import { run } from './process.js';

export const SMTP_SOURCE = ['/usr/sbin/smtp-source', '/usr/bin/smtp-source'].find((p) => existsSync(p)) ?? 'smtp-source';
export const SMTP_SINK = ['/usr/sbin/smtp-sink', '/usr/bin/smtp-sink'].find((p) => existsSync(p)) ?? 'smtp-sink';

export interface Load {
  protocol: 'lmtp' | 'smtp';
  port: number;
  sessions: number;
  count: number;
  /** body bytes per message (smtp-source -l); smtp-source adds about 120 bytes of headers */
  size: number;
  timeoutMs: number;
  /** recipient (smtp-source -t), e.g. a trap domain when Postfix is in front */
  to?: string;
  from?: string;
}

export interface LoadResult {
  ms: number;
  msgsPerSec: number;
  /** body megabytes (10^6 bytes) per second */
  mbPerSec: number;
}

export async function sendLoad(load: Load): Promise<LoadResult> {
  const args = ['-d', '-s', String(load.sessions), '-m', String(load.count), '-l', String(load.size), '-M', 'bench.test'];
  if (load.protocol === 'lmtp') args.push('-L');
  if (load.to) args.push('-t', load.to);
  if (load.from) args.push('-f', load.from);
  args.push(`127.0.0.1:${load.port}`);
  const { ms } = await run(SMTP_SOURCE, args, { timeoutMs: load.timeoutMs });
  const msgsPerSec = (load.count * 1000) / ms;
  return { ms, msgsPerSec, mbPerSec: (msgsPerSec * load.size) / 1e6 };
}
