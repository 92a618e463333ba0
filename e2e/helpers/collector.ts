// The real collector (catchall-lmtp/bin/catchall-lmtp.js) as a process on a fixed port of this test
// file, configured with both brokers, so it can be stopped and started again where Postfix expects it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { HPFEEDS_MAX_FRAME_SIZE } from './brokers.js';
import { REPO } from './paths.js';
import { freePort } from './ports.js';
import { Service } from './service.js';
import { eventually, GiveUp } from './wait.js';

export interface CollectorOptions {
  dir: string;
  lmtpPort: number;
  amqp: { url: string; exchange: string; routingKey: string };
  hpfeeds: { port: number; ident: string; secret: string; channel: string };
}

/** Reconnect quickly after a broker comes back, so an outage test takes seconds. */
const FAST_RECONNECT = { initialDelayMs: 100, maxDelayMs: 500 };

export class Collector {
  private service: Service | undefined;
  private constructor(private readonly configFile: string, private readonly dir: string, readonly metricsPort: number) {}

  static async create(opts: CollectorOptions): Promise<Collector> {
    const configFile = path.join(opts.dir, 'collector.yml');
    const metricsPort = await freePort();
    // JSON is YAML; the collector's own `sinks:` format.
    await fs.writeFile(configFile, JSON.stringify({
      lmtp: { host: '127.0.0.1', port: opts.lmtpPort },
      metrics: { host: '127.0.0.1', port: metricsPort },
      sinks: [
        { type: 'amqp', url: opts.amqp.url, exchange: opts.amqp.exchange, routingKey: opts.amqp.routingKey, reconnect: FAST_RECONNECT },
        { type: 'hpfeeds', host: '127.0.0.1', port: opts.hpfeeds.port, ident: opts.hpfeeds.ident, secret: opts.hpfeeds.secret,
          channels: [opts.hpfeeds.channel], maxFrameSize: HPFEEDS_MAX_FRAME_SIZE, reconnect: FAST_RECONNECT },
      ],
    }, null, 2));
    return new Collector(configFile, opts.dir, metricsPort);
  }

  get log(): string {
    return this.service?.log ?? '';
  }

  /**
   * Starts it and waits for /readyz unless told not to. Direct mode by default; with spoolDir, spool
   * mode (-m): 250 once the message is in that maildir, forwarded afterwards.
   */
  async start({ waitReady = true, spoolDir }: { waitReady?: boolean; spoolDir?: string } = {}): Promise<void> {
    // Only our config counts: no broker settings inherited from the shell, no .env from the cwd.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AMQP|HPFEEDS|CATCHALL)_/.test(k)));
    const args = [path.join(REPO, 'catchall-lmtp/bin/catchall-lmtp.js'), '-f', this.configFile, ...(spoolDir ? ['-m', spoolDir] : [])];
    this.service = Service.start('catchall-lmtp', process.execPath, args, env, this.dir);
    if (waitReady) await this.waitReady();
  }

  /**
   * /readyz: 200 once it can take mail. Direct mode: listening with every sink connected (503 while a
   * broker is unreachable); spool mode: listening with a writable spool, whatever the brokers do.
   */
  async ready(): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`).catch(() => undefined);
    return res?.status === 200;
  }

  /** Whether the sink of this type is connected (catchall_sink_connected on /metrics). */
  async sinkConnected(type: 'amqp' | 'hpfeeds'): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const m = new RegExp(`^catchall_sink_connected\\{sink="${type}:[^"]*"\\} (\\d)$`, 'm').exec(await res.text());
    if (!m) throw new Error(`no catchall_sink_connected for a ${type} sink on /metrics`);
    return m[1] === '1';
  }

  async waitReady(ms = 30_000): Promise<void> {
    await eventually(`the collector's /readyz on port ${this.metricsPort}`, async () => {
      if (this.service && !this.service.running) throw new GiveUp(`the collector exited:\n${this.service.log.slice(-2000)}`);
      return this.ready();
    }, ms, 200);
  }

  async stop(): Promise<void> {
    await this.service?.stop(35_000);
  }
}
