// bench/reference/smtp_server_noop.mjs: smtp-server's own ceiling on this machine (see there).
import { fileURLToPath } from 'node:url';
import { startChild } from '../lib/process.js';
import type { LmtpTarget } from './target.js';

const SCRIPT = fileURLToPath(new URL('../reference/smtp_server_noop.mjs', import.meta.url));

export async function startSmtpServerNoop(): Promise<LmtpTarget> {
  const child = startChild('smtp-server no-op', process.execPath, [SCRIPT, '0']);
  try {
    const [, port] = await child.waitForLine(/^listening (\d+)/, 10_000);
    return { name: 'smtp-server no-op', port: Number(port), pid: child.pid, stop: async () => void (await child.stop()) };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
