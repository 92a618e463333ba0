// The no-op references, each a stand-alone script in bench/reference/ that answers 250 and discards:
//   smtp_server_noop.mjs — npm smtp-server as our collector uses it: that library's ceiling here;
//   node_lmtp_noop.mjs   — a minimal LMTP responder on Node's own sockets: Node's ceiling here.
import { fileURLToPath } from 'node:url';
import { startChild } from '../lib/process.js';
import type { LmtpTarget } from './target.js';

export const startSmtpServerNoop = (): Promise<LmtpTarget> => startScript('smtp-server no-op', 'smtp_server_noop.mjs');
export const startNodeLmtpNoop = (): Promise<LmtpTarget> => startScript('node no-op', 'node_lmtp_noop.mjs');

async function startScript(name: string, script: string): Promise<LmtpTarget> {
  const child = startChild(name, process.execPath, [fileURLToPath(new URL(`../reference/${script}`, import.meta.url)), '0']);
  try {
    const [, port] = await child.waitForLine(/^listening (\d+)/, 10_000);
    return { name, port: Number(port), pid: child.pid, stop: async () => void (await child.stop()) };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
