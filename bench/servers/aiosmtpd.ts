// The original Python collector's ingest path (bench/reference/aiosmtpd_lmtp_maildir.py).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countMaildir } from '../lib/maildir.js';
import { startChild } from '../lib/process.js';
import { removeWhenDone } from '../lib/settle.js';
import type { LmtpTarget } from './target.js';

const SCRIPT = fileURLToPath(new URL('../reference/aiosmtpd_lmtp_maildir.py', import.meta.url));
// Debian's interpreter: it has python3-aiosmtpd, a pyenv python3 earlier on PATH may not.
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

export async function startAiosmtpd(): Promise<LmtpTarget> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-aiosmtpd-'));
  const maildir = join(dir, 'Maildir');
  const child = startChild('aiosmtpd', PYTHON, [SCRIPT, '--host', '127.0.0.1', '--port', '0', '--maildir', maildir]);
  try {
    const [, port] = await child.waitForLine(/^listening (\d+)/, 10_000);
    return {
      name: 'aiosmtpd',
      port: Number(port),
      pid: child.pid,
      delivered: () => countMaildir(maildir),
      async stop() {
        await child.stop();
        removeWhenDone(dir); // see lib/settle.ts
      },
    };
  } catch (err) {
    await child.stop();
    removeWhenDone(dir); // see lib/settle.ts
    throw err;
  }
}
