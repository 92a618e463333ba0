// Our collector (catchall-lmtp) as a separate process, in the three modes the issue measures:
// spool (-m, 250 once its batch is flushed in the spool's journal), direct to RabbitMQ (250 after the publisher confirm) and direct to the
// hpfeeds broker (250 once written to the authenticated connection). Logs go to a file (see process.ts).
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { amqpCounter, AMQP_URL } from '../lib/amqp-counter.js';
import { hpfeedsPeer } from '../lib/hpfeeds-peer.js';
import { countMaildir } from '../lib/maildir.js';
import { freePort, startChild, waitUntil, type Child } from '../lib/process.js';
import { removeWhenDone } from '../lib/settle.js';
import { BENCH_IDENT, CHANNEL, COLLECTOR_IDENT, startBroker } from './hpfeeds-broker.js';
import type { LmtpTarget } from './target.js';

const BIN = fileURLToPath(new URL('../../catchall-lmtp/bin/catchall-lmtp.js', import.meta.url));
const CLI_SOURCE = fileURLToPath(new URL('../../catchall-lmtp/src/cli.ts', import.meta.url));

export type CollectorMode = 'spool' | 'amqp' | 'hpfeeds';
export const COLLECTOR_MODES: CollectorMode[] = ['spool', 'amqp', 'hpfeeds'];

/** Whether the collector's command line exists in this checkout. */
export function collectorAvailable(): boolean {
  return existsSync(BIN) && existsSync(CLI_SOURCE);
}

export interface Collector extends LmtpTarget {
  /** where the collector logs (one JSON line per message) */
  logFile: string;
}

/** Starts the collector and what it forwards to; `stop()` stops and removes all of it. */
export async function startCollector(
  mode: CollectorMode,
  opts: { lmtpPort?: number; /** extra node options, e.g. --cpu-prof */ nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Collector> {
  const dir = await mkdtemp(join(tmpdir(), `bench-collector-${mode}-`));
  const cleanups: (() => Promise<void>)[] = [async () => removeWhenDone(dir)]; // see lib/settle.ts
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const args: string[] = [];
    let sinks: unknown[] = [];
    let delivered: () => number;
    if (mode === 'spool') {
      const maildir = join(dir, 'spool');
      args.push('-m', maildir);
      delivered = () => countMaildir(maildir);
    } else if (mode === 'amqp') {
      const counter = await amqpCounter();
      cleanups.push(() => counter.close());
      sinks = [{ type: 'amqp', url: AMQP_URL, exchange: counter.exchange, routingKey: counter.routingKey }];
      delivered = () => counter.distinct();
    } else {
      // Frames big enough for the largest message the collector accepts (10 240 000 bytes, as JSON).
      const broker = await startBroker({ maxFrameSize: 32 * 1024 * 1024 });
      cleanups.push(() => broker.stop());
      const sub = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
      cleanups.push(async () => sub.close());
      sub.subscribe(CHANNEL);
      sinks = [
        {
          type: 'hpfeeds',
          host: '127.0.0.1',
          port: broker.port,
          ident: COLLECTOR_IDENT.ident,
          secret: COLLECTOR_IDENT.secret,
          channels: [CHANNEL],
          maxFrameSize: broker.maxFrameSize,
        },
      ];
      delivered = () => sub.distinct();
    }
    const config = join(dir, 'config.yml');
    await writeFile(config, JSON.stringify({ sinks }, null, 2)); // JSON is YAML
    const port = opts.lmtpPort ?? (await freePort());
    const metricsPort = await freePort();
    const logFile = join(dir, 'collector.log');
    const child: Child = startChild(
      `catchall-lmtp (${mode})`,
      process.execPath,
      [...(opts.nodeArgs ?? []), BIN, '--host', '127.0.0.1', '-p', String(port), '-f', config, '--metrics-port', String(metricsPort), ...args],
      { logFile, env: { NODE_ENV: 'production', ...opts.env } },
    );
    cleanups.push(async () => void (await child.stop(10_000)));
    await waitUntil(() => ready(metricsPort, child), 20_000, `catchall-lmtp (${mode}) /readyz`, 100);
    return { name: `ours:${mode}`, port, pid: child.pid, logFile, delivered, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The collector refused a configuration because this checkout does not have that sink yet. */
export class ModeUnavailable extends Error {}

async function ready(metricsPort: number, child: Child): Promise<boolean> {
  if (child.proc.exitCode !== null) {
    const why = child.output().match(/sinks: (type \S+ is not (?:available|wired)[^\n]*)/);
    if (why) throw new ModeUnavailable(`${child.name}: ${why[1]}`);
    throw new Error(`${child.name} exited with ${child.proc.exitCode}\n${child.output()}`);
  }
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200;
  } catch {
    return false;
  }
}
