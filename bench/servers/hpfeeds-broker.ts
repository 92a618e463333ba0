// Our hpfeeds broker (broker-dev) as a separate process, with a temporary auth file:
// `collector` publishes, `bench` publishes and subscribes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild } from '../lib/process.js';

const BIN = fileURLToPath(new URL('../../broker-dev/bin/hpfeeds-broker.js', import.meta.url));
export const CHANNEL = 'spam.mails';
export const COLLECTOR_IDENT = { ident: 'collector', secret: 'bench-collector-secret' };
export const BENCH_IDENT = { ident: 'bench', secret: 'bench-secret' };

export interface Broker {
  port: number;
  pid: number;
  maxFrameSize: number;
  stop(): Promise<void>;
}

export async function startBroker(opts: { maxFrameSize?: number } = {}): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-broker-'));
  const auth = join(dir, 'auth.json');
  const maxFrameSize = opts.maxFrameSize ?? 16 * 1024 * 1024;
  await writeFile(
    auth,
    JSON.stringify({
      [COLLECTOR_IDENT.ident]: { owner: 'bench', secret: COLLECTOR_IDENT.secret, pubchans: [CHANNEL], subchans: [] },
      [BENCH_IDENT.ident]: { owner: 'bench', secret: BENCH_IDENT.secret, pubchans: [CHANNEL], subchans: [CHANNEL] },
    }),
  );
  const child = startChild('hpfeeds-broker', process.execPath, [
    BIN,
    '--endpoint',
    'tcp:port=0:interface=127.0.0.1',
    '--auth',
    auth,
    '--max-frame-size',
    String(maxFrameSize),
  ]);
  const stop = async (): Promise<void> => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Port 0 picks a free port; the broker logs the one it bound.
    const [, port] = await child.waitForLine(/"port":(\d+).*"msg":"listening"/, 15_000);
    return { port: Number(port), pid: child.pid, maxFrameSize, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
