// The `--exporter host:port` HTTP server: GET /metrics (Prometheus text format) and GET /healthz.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ExporterOptions {
  registry: Registry;
  /** /healthz answers 200 while this returns true, 503 otherwise. */
  healthy: () => boolean;
}

export class MetricsExporter {
  private readonly server: http.Server;

  constructor(private readonly opts: ExporterOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      try {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType }).end(body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${(err as Error).message}\n`);
      }
    } else if (path === '/healthz') {
      const ok = this.opts.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'OK\n' : 'not listening\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics or /healthz\n');
    }
  }
}

/** Parses `host:port` or `[v6]:port` (the reference's --exporter syntax). */
export function parseHostPort(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`"${spec}" is not host:port (e.g. 0.0.0.0:9431)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
