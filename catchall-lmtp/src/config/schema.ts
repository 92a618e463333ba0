// The one zod schema of the collector's configuration: it is the single source of the defaults,
// of the reference table in README.md (see docs.ts) and of the environment variable names
// (each overridable setting carries its variable in `.meta({ env })`, see env.ts). A sink setting
// marked `tuning` only adjusts a sink: its variable applies to every sink of that type and is ignored
// when there is none, so that a compose file can always pass it.
import { z } from 'zod';

// Values from `${VAR}` interpolation and from environment variables arrive as strings; numbers,
// booleans and lists accept their plain string spelling, anything else is left for zod to reject.
const fromString = <T extends z.ZodType>(convert: (s: string) => unknown, schema: T) =>
  z.preprocess((v) => (typeof v === 'string' ? convert(v.trim()) : v), schema);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  fromString((s) => (/^-?\d[\d_]*$/.test(s) ? Number(s.replace(/_/g, '')) : s), z.int().min(min).max(max));
const bool = () =>
  fromString((s) => (/^(true|yes|on|1)$/i.test(s) ? true : /^(false|no|off|0)$/i.test(s) ? false : s), z.boolean());
const list = (item: z.ZodString) =>
  fromString((s) => s.split(',').map((x) => x.trim()).filter(Boolean), z.array(item).min(1, 'at least one entry'));

export { bool, list };
export const port = int(0, 65535);
const positiveInt = int(1);

export const payloadFormatSchema = z
  .enum(['json', 'raw'])
  .meta({ description: 'json: {"sha256","msg","envelope"} document; raw: the exact message bytes' });
export type PayloadFormat = z.infer<typeof payloadFormatSchema>;

const tlsSchema = (prefix: string) =>
  z
    .object({
      enabled: bool().default(false).meta({ env: `${prefix}_TLS`, description: 'connect with TLS' }),
      verify: bool()
        .default(true)
        .meta({ env: `${prefix}_TLS_VERIFY`, description: "check the broker's certificate" }),
      ca: z.string().min(1).optional().meta({ env: `${prefix}_TLS_CA`, description: 'CA certificate file (PEM)' }),
    })
    .strict()
    .prefault({});

const reconnectSchema = (prefix: string) =>
  z
    .object({
      initialDelayMs: positiveInt
        .default(500)
        .meta({ env: `${prefix}_RECONNECT_INITIAL_DELAY_MS`, tuning: true, description: 'first reconnect delay; doubles, with jitter' }),
      maxDelayMs: positiveInt.default(30_000).meta({ env: `${prefix}_RECONNECT_MAX_DELAY_MS`, tuning: true, description: 'reconnect delay ceiling' }),
    })
    .strict()
    .prefault({});

const sinkFormat = (prefix: string) =>
  payloadFormatSchema.default('json').meta({ env: `${prefix}_FORMAT`, tuning: true, description: 'payload format; defaults to the top-level `format`' });

export const amqpSinkSchema = z
  .object({
    type: z.literal('amqp'),
    url: z
      .string()
      .regex(/^amqps?:\/\//, 'an amqp:// or amqps:// URL')
      .optional()
      .meta({ env: 'AMQP_URL', description: 'amqp[s]://user:pass@host:port/vhost; wins over the separate fields' }),
    host: z.string().min(1).default('127.0.0.1').meta({ env: 'AMQP_HOST', description: 'broker host' }),
    port: port.default(5672).meta({ env: 'AMQP_PORT', description: 'broker port' }),
    vhost: z.string().default('/').meta({ env: 'AMQP_VHOST', description: 'virtual host' }),
    username: z.string().default('guest').meta({ env: 'AMQP_USER', description: 'user name' }),
    password: z.string().default('guest').meta({ env: 'AMQP_PASSWORD', description: 'password', secret: true }),
    tls: tlsSchema('AMQP'),
    exchange: z.string().min(1).default('spam').meta({ env: 'AMQP_EXCHANGE', description: 'exchange to publish to' }),
    exchangeType: z
      .enum(['topic', 'direct', 'fanout', 'headers'])
      .default('topic')
      .meta({ env: 'AMQP_EXCHANGE_TYPE', tuning: true, description: 'exchange type' }),
    exchangeDurable: bool()
      .default(false)
      .meta({ env: 'AMQP_EXCHANGE_DURABLE', tuning: true, description: "exchange durability as declared (spamtrap-system's consumers declare it non-durable)" }),
    declareExchange: bool()
      .default(true)
      .meta({ env: 'AMQP_DECLARE_EXCHANGE', tuning: true, description: 'declare the exchange at connect (false: it must exist)' }),
    routingKey: z.string().default('spam.mails').meta({ env: 'AMQP_ROUTING_KEY', description: 'routing key' }),
    format: sinkFormat('AMQP'),
    connectTimeoutMs: positiveInt.default(10_000).meta({ env: 'AMQP_CONNECT_TIMEOUT_MS', tuning: true, description: 'TCP+AMQP handshake timeout' }),
    confirmTimeoutMs: positiveInt
      .default(15_000)
      .meta({ env: 'AMQP_CONFIRM_TIMEOUT_MS', tuning: true, description: 'how long to wait for a publisher confirm' }),
    reconnect: reconnectSchema('AMQP'),
  })
  .strict();
export type AmqpSinkConfig = z.infer<typeof amqpSinkSchema>;

export const hpfeedsSinkSchema = z
  .object({
    type: z.literal('hpfeeds'),
    host: z.string().min(1).meta({ env: 'HPFEEDS_HOST', description: 'broker host' }),
    port: port.default(10_000).meta({ env: 'HPFEEDS_PORT', description: 'broker port' }),
    ident: z.string().min(1).meta({ env: 'HPFEEDS_IDENT', description: 'identity (ident) to authenticate as' }),
    secret: z.string().meta({ env: 'HPFEEDS_SECRET', description: 'secret of that identity', secret: true }),
    channels: list(z.string().min(1)).meta({ env: 'HPFEEDS_CHANNELS', description: 'channels to publish every message to (env: comma-separated)' }),
    tls: tlsSchema('HPFEEDS'),
    maxFrameSize: positiveInt
      .default(1_048_581)
      .meta({ env: 'HPFEEDS_MAX_FRAME_SIZE', tuning: true, description: 'largest frame the broker accepts (5 + 1 MiB); bigger messages are refused with 4xx' }),
    errorGraceMs: int(0, 10_000)
      .default(2_000)
      .meta({
        env: 'HPFEEDS_ERROR_GRACE_MS',
        tuning: true,
        description:
          'hpfeeds never confirms; only an ERROR says no. A publish unlike any the broker took on this connection gets 250 only after this long without one, and after an ERROR the sink stays not ready until a new connection lasted this long. 0: off (a refused message can be lost)',
      }),
    format: sinkFormat('HPFEEDS'),
    reconnect: reconnectSchema('HPFEEDS'),
  })
  .strict();
export type HpfeedsSinkConfig = z.infer<typeof hpfeedsSinkSchema>;

export const maildirSinkSchema = z
  .object({
    type: z.literal('maildir'),
    dir: z.string().min(1).meta({ description: 'maildir to archive every message to (exact bytes)' }),
  })
  .strict();
export type MaildirSinkConfig = z.infer<typeof maildirSinkSchema>;

export const sinkSchema = z.discriminatedUnion('type', [amqpSinkSchema, hpfeedsSinkSchema, maildirSinkSchema]);
export type SinkConfig = z.infer<typeof sinkSchema>;

export const lmtpSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').meta({ env: 'CATCHALL_LMTP_HOST', description: 'address to listen on' }),
    port: port.default(24).meta({ env: 'CATCHALL_LMTP_PORT', description: 'TCP port (0: any free port)' }),
    socket: z.string().min(1).optional().meta({ env: 'CATCHALL_LMTP_SOCKET', description: 'unix socket path; replaces host/port' }),
    maxMessageSize: positiveInt
      .default(10_240_000)
      .meta({ env: 'CATCHALL_LMTP_MAX_MESSAGE_SIZE', description: 'bytes; a bigger message gets 4xx per recipient' }),
    maxRecipients: positiveInt.default(1000).meta({ env: 'CATCHALL_LMTP_MAX_RECIPIENTS', description: 'per message; more get 452 4.5.3' }),
    maxConnections: positiveInt.default(200).meta({ env: 'CATCHALL_LMTP_MAX_CONNECTIONS', description: 'concurrent sessions; more get 421' }),
    idleTimeoutMs: positiveInt
      .default(300_000)
      .meta({ env: 'CATCHALL_LMTP_IDLE_TIMEOUT_MS', description: 'a client silent for this long is disconnected (421)' }),
    dataTimeoutMs: positiveInt
      .default(600_000)
      .meta({ env: 'CATCHALL_LMTP_DATA_TIMEOUT_MS', description: 'a message not received in full (final dot) this long after DATA: 421 and close, however steadily bytes trickle in' }),
    drainTimeoutMs: positiveInt
      .default(30_000)
      .meta({ env: 'CATCHALL_LMTP_DRAIN_TIMEOUT_MS', description: 'on SIGTERM, how long open sessions may finish' }),
    useXForward: bool().default(true).meta({ env: 'CATCHALL_LMTP_XFORWARD', description: "accept Postfix's XFORWARD (original client address, name, HELO)" }),
    hostname: z.string().min(1).optional().meta({ env: 'CATCHALL_LMTP_HOSTNAME', description: 'name in the greeting (default: the host name)' }),
  })
  .strict()
  .prefault({});

export const spoolSchema = z
  .object({
    dir: z.string().min(1).optional().meta({ env: 'CATCHALL_MAILDIR', description: 'maildir used as durable outbox and archive; enables spool mode' }),
    retentionDays: int(0).default(0).meta({ env: 'CATCHALL_SPOOL_RETENTION_DAYS', description: 'delete forwarded messages (cur/) older than this; 0 keeps them' }),
    retentionCount: int(0).default(0).meta({ env: 'CATCHALL_SPOOL_RETENTION_COUNT', description: 'keep at most this many forwarded messages; 0: no limit' }),
    replayIntervalMs: positiveInt
      .default(30_000)
      .meta({ env: 'CATCHALL_SPOOL_REPLAY_INTERVAL_MS', description: 'how often new/ is re-scanned for messages not yet forwarded' }),
    forwardConcurrency: positiveInt
      .default(64)
      .meta({ env: 'CATCHALL_SPOOL_FORWARD_CONCURRENCY', description: 'messages published to the sinks at once' }),
  })
  .strict()
  .prefault({});

export const metricsSchema = z
  .object({
    enabled: bool().default(true).meta({ env: 'CATCHALL_METRICS', description: 'serve /metrics, /healthz, /readyz' }),
    host: z.string().min(1).default('127.0.0.1').meta({ env: 'CATCHALL_METRICS_HOST', description: 'address of the HTTP server' }),
    port: port.default(9124).meta({ env: 'CATCHALL_METRICS_PORT', description: 'port of the HTTP server' }),
  })
  .strict()
  .prefault({});

export const logSchema = z
  .object({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
      .default('info')
      .meta({ env: 'CATCHALL_LOG_LEVEL', description: 'pino log level' }),
  })
  .strict()
  .prefault({});

/** Sections every file format may carry next to its sink description. */
export const commonSections = {
  lmtp: lmtpSchema,
  format: payloadFormatSchema.default('json').meta({ env: 'CATCHALL_FORMAT', description: 'payload format of every sink that sets none' }),
  spool: spoolSchema,
  metrics: metricsSchema,
  log: logSchema,
};

/** The collector's own format, and the normalised form of the two seed formats. */
export const configSchema = z
  .object({
    ...commonSections,
    sinks: z.array(sinkSchema).default([]).meta({ description: 'destinations; every message goes to all of them' }),
  })
  .strict();
export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
