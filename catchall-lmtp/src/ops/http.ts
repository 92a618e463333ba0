// The operations endpoint: /healthz (the process is alive), /readyz (it can take mail now),
// /metrics (Prometheus). Plain node:http: three routes do not need a framework.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export class OpsServer {
  private readonly server: http.Server;

  constructor(
    private readonly metrics: Metrics,
    private readonly readiness: () => Readiness,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.logger.error({ err }, 'ops endpoint failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  }

  async start(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.logger.info({ host, port: bound }, 'metrics and health endpoints listening');
    return bound;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const r = this.readiness();
      json(res, r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not ready', reason: r.reason });
    } else if (path === '/metrics') {
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body);
    } else {
      json(res, 404, { error: 'not found', routes: ['/healthz', '/readyz', '/metrics'] });
    }
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}
