// Postfix's smtp-sink -L: a C LMTP server that discards everything, the practical ceiling.
import { freePort, startChild, waitForPort } from '../lib/process.js';
import { SMTP_SINK } from '../lib/smtp-source.js';
import type { LmtpTarget } from './target.js';

export async function startSmtpSink(opts: { lmtp: boolean } = { lmtp: true }): Promise<LmtpTarget> {
  const port = await freePort();
  // -u: smtp-sink refuses to run as root without a user to switch to; backlog 256 covers 50 sessions.
  const args = [...(opts.lmtp ? ['-L'] : []), '-u', 'nobody', `127.0.0.1:${port}`, '256'];
  const child = startChild('smtp-sink', SMTP_SINK, args);
  await waitForPort(port, 5000, child);
  return { name: 'smtp-sink', port, pid: child.pid, stop: async () => void (await child.stop()) };
}
