// catchall-lmtp command line: compatible with the seed (`-p PORT -f FEED_CONFIG -m MAILDIR`).
// Exit codes: 0 clean stop, 1 failure at run time, 2 invalid command line or configuration.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadEnvFile } from './config/dotenv.js';
import { ConfigError } from './config/errors.js';
import { loadConfig, redact, type Overrides } from './config/load.js';
import { createSinks } from './delivery/create-sinks.js';
import { exitWith } from './ops/exit.js';
import { createLogger } from './ops/logger.js';
import { CollectorService } from './ops/service.js';
import { createSpoolDelivery } from './spool/spool-delivery.js';

const USAGE = `Usage: catchall-lmtp [options]

Catch-all LMTP collector: every message is hashed (sha256) and forwarded to the configured sinks
(AMQP, hpfeeds, maildir). A recipient gets 250 only once the message is durable, 4xx otherwise.

Options:
  -p, --port PORT          LMTP TCP port (default 24; 0 = any free port)       [CATCHALL_LMTP_PORT]
      --host HOST          address to listen on (default 127.0.0.1)            [CATCHALL_LMTP_HOST]
      --socket PATH        listen on a unix socket instead                      [CATCHALL_LMTP_SOCKET]
  -f, --feed-config FILE   YAML config: flat hpfeeds, typed (type: amqp|hpfeeds) or sinks: list
  -c, --config FILE        same as -f                                           [CATCHALL_CONFIG]
  -m, --maildir DIR        spool mode: 250 once durable in DIR/new, forwarded in the background
                                                                                [CATCHALL_MAILDIR]
      --format json|raw    payload format of sinks that set none (default json) [CATCHALL_FORMAT]
      --metrics-port PORT  HTTP /metrics /healthz /readyz (default 9124)        [CATCHALL_METRICS_PORT]
      --metrics-host HOST  (default 127.0.0.1)                                  [CATCHALL_METRICS_HOST]
      --dotenv FILE        dotenv file to load (default: .env if present)
  -v, --verbose            debug logging                                        [CATCHALL_LOG_LEVEL]
      --check-config       print the effective configuration (secrets masked) and exit
  -h, --help               this text
      --version            print the version

Sinks can also come from the environment alone: AMQP_URL or AMQP_HOST (+ AMQP_USER, AMQP_PASSWORD,
AMQP_EXCHANGE, AMQP_ROUTING_KEY, ...), HPFEEDS_HOST (+ HPFEEDS_IDENT, HPFEEDS_SECRET, HPFEEDS_CHANNELS).
See catchall-lmtp/README.md for every variable.
`;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        socket: { type: 'string' },
        'feed-config': { type: 'string', short: 'f' },
        config: { type: 'string', short: 'c' },
        maildir: { type: 'string', short: 'm' },
        format: { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        dotenv: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'check-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`);
  }
}

async function main(argv: string[]): Promise<number> {
  const args = parseCommandLine(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  loadEnvFile(args.dotenv);
  const overrides: Overrides = {
    'lmtp.port': args.port,
    'lmtp.host': args.host,
    'lmtp.socket': args.socket,
    'spool.dir': args.maildir,
    format: args.format,
    'metrics.port': args['metrics-port'],
    'metrics.host': args['metrics-host'],
    'log.level': args.verbose ? 'debug' : undefined,
  };
  const config = loadConfig({ file: args['feed-config'] ?? args.config ?? process.env.CATCHALL_CONFIG, env: process.env, overrides });
  if (args['check-config']) {
    process.stdout.write(JSON.stringify(redact(config), null, 2) + '\n');
    return 0;
  }

  const logger = createLogger(config.log.level);
  logger.info({ config: redact(config) }, 'starting');
  const sinks = createSinks(config, logger);
  const service = new CollectorService(config, {
    logger,
    sinks,
    createSpool: (dir, spoolSinks, metrics) => createSpoolDelivery({ dir, sinks: spoolSinks, metrics, logger, options: config.spool }),
  });
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    await service.stop().catch(() => undefined);
    return 1;
  }

  // SIGTERM/SIGINT: drain and exit 0. A second signal while draining exits at once (1).
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal while draining: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      service.stop().then(
        () => resolve(0),
        (err: Error) => {
          logger.error({ err }, 'error while shutting down');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

exitWith('catchall-lmtp', main(process.argv.slice(2)));
