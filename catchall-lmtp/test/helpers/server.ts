// Starts a real LmtpServer on a free port (or a unix socket) in front of the given delivery.
import { pino } from 'pino';
import type { Delivery } from '../../src/delivery/delivery.js';
import { DirectDelivery } from '../../src/delivery/direct.js';
import { LmtpServer, type LmtpServerOptions } from '../../src/lmtp/server.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { Sink } from '../../src/sinks/sink.js';

export const quietLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestServer {
  server: LmtpServer;
  port: number;
  metrics: Metrics;
  delivery: Delivery;
  stop(): Promise<void>;
}

export async function startServer(
  options: { sinks?: Sink[]; delivery?: Delivery } & Partial<Omit<LmtpServerOptions, 'delivery'>> = {},
): Promise<TestServer> {
  const metrics = options.metrics ?? new Metrics();
  const delivery = options.delivery ?? new DirectDelivery(options.sinks ?? [], metrics);
  const server = new LmtpServer({
    host: '127.0.0.1',
    port: 0,
    maxMessageSize: 10_240_000,
    maxRecipients: 1000,
    maxConnections: 100,
    idleTimeoutMs: 10_000,
    drainTimeoutMs: 2_000,
    useXForward: true,
    logger: quietLogger,
    ...options,
    delivery,
    metrics,
  });
  const address = await server.start();
  return {
    server,
    port: 'port' in address ? address.port : -1,
    metrics,
    delivery,
    stop: async () => {
      await server.stop();
      await delivery.close();
    },
  };
}
