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
  /** the broker's log so far (pino JSON lines) */
  output(): string;
  stop(): Promise<void>;
}

/** The reference broker's PUBLISH frame limit (5 + 1 MiB), the broker's default. */
export const DEFAULT_MAX_FRAME = 5 + 1024 * 1024;

/**
 * `maxFrameSize` also sets the broker's per-subscriber send buffer limit (the larger of 8 MiB and twice
 * the frame limit), so the fan-out and slow-subscriber measures keep the default.
 */
export async function startBroker(opts: { maxFrameSize?: number } = {}): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-broker-'));
  const auth = join(dir, 'auth.json');
  const maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME;
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
    return { port: Number(port), pid: child.pid, maxFrameSize, output: () => child.output(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
