// `hpfeeds-broker`: a drop-in for the reference broker's command line.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { AuthConfigError, type AuthStore } from './auth/auth-store.js';
import { EnvAuthStore } from './auth/env.js';
import { JsonFileAuthStore } from './auth/json-file.js';
import { HpfeedsBroker } from './broker/broker.js';
import { EndpointError, parseEndpoint } from './broker/endpoint.js';
import { MetricsExporter, parseHostPort } from './broker/exporter.js';
import { parseIntOption, runCli, UsageError } from './cli/args.js';

const USAGE = `Usage: hpfeeds-broker [options]

Runs an hpfeeds broker (hpfeeds3 wire protocol, reference CLI and auth formats).

Options:
  --endpoint SPEC        where to listen; repeatable (default tcp:port=10000)
                           tcp:port=10000[:interface=127.0.0.1]
                           tls:port=10001:cert=cert.pem:key=key.pem[:interface=…]
  --auth FILE.json|env   ident database: a JSON file (reloaded when it changes) or the
                           HPFEEDS_<IDENT>_SECRET/_PUBCHANS/_SUBCHANS/_OWNER variables (default env)
  --exporter HOST:PORT   serve /metrics (Prometheus) and /healthz there (default: off)
  --name NAME            broker name sent to clients in INFO (default hpfeeds)
  --max-frame-size N     largest PUBLISH frame in bytes, header included (default 1048581)
  --max-connections N    further connections get an ERROR and are closed (default 10000)
  --log-level LEVEL      pino level: trace, debug, info, warn, error (default info)
  -h, --help             show this help

SIGTERM or SIGINT stops listening, closes the clients and exits 0.
`;

async function main(): Promise<number | void> {
  const { values } = parseArgs({
    options: {
      endpoint: { type: 'string', multiple: true },
      auth: { type: 'string', default: 'env' },
      exporter: { type: 'string' },
      name: { type: 'string', default: 'hpfeeds' },
      'max-frame-size': { type: 'string' },
      'max-connections': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const endpoints = (values.endpoint ?? ['tcp:port=10000']).map((spec) => {
    try {
      return parseEndpoint(spec);
    } catch (err) {
      throw new UsageError(`--endpoint: ${(err as EndpointError).message}`);
    }
  });
  let exporterAddr;
  try {
    exporterAddr = values.exporter === undefined ? undefined : parseHostPort(values.exporter);
  } catch (err) {
    throw new UsageError(`--exporter: ${(err as Error).message}`);
  }
  const maxFrameSize = parseIntOption('max-frame-size', values['max-frame-size'], 5 + 256 + 20, 2 ** 32 - 1);
  const maxConnections = parseIntOption('max-connections', values['max-connections'], 1);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  if (!levels.includes(values['log-level'])) throw new UsageError(`--log-level must be one of ${levels.join(', ')}`);

  const logger = pino({ level: values['log-level'], base: { service: 'hpfeeds-broker' } });
  let auth: AuthStore;
  try {
    auth = values.auth === 'env' ? new EnvAuthStore() : new JsonFileAuthStore(values.auth, { logger });
  } catch (err) {
    if (err instanceof AuthConfigError) throw new UsageError(`--auth: ${err.message}`);
    throw err;
  }
  if (auth.size() === 0) logger.warn({ auth: values.auth }, 'no idents configured: every AUTH will fail');
  else logger.info({ auth: values.auth, idents: auth.size() }, 'auth database loaded');

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const broker = new HpfeedsBroker({ auth, name: values.name, maxFrameSize, maxConnections, logger, registry });
  const exporter = new MetricsExporter({ registry, healthy: () => broker.listening });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Clients get a few seconds to go (see connection.ts); a shutdown that hangs still ends here.
    setTimeout(() => process.exit(1), 15_000).unref();
    void (async () => {
      let code = 0;
      try {
        logger.info({ signal }, 'shutting down');
        await Promise.all([broker.close(), exporter.close()]);
        auth.close();
        logger.info('stopped');
      } catch (err) {
        code = 1;
        process.stderr.write(`hpfeeds-broker: shutdown failed: ${(err as Error).message}\n`);
      }
      process.exit(code);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  try {
    for (const ep of endpoints) await broker.listen(ep);
    if (exporterAddr) {
      const addr = await exporter.listen(exporterAddr.host, exporterAddr.port);
      logger.info({ host: addr.address, port: addr.port }, 'exporter listening (/metrics, /healthz)');
    }
  } catch (err) {
    await Promise.all([broker.close(), exporter.close()]);
    auth.close();
    throw err;
  }
}

runCli('hpfeeds-broker', main);
