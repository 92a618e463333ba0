// The two file formats of the Python seeds, accepted unchanged and normalised into our `sinks:` list.
// Each is validated by its own schema first, so an error names the key as it is written in the file.
//
// (a) flat hpfeeds file (smtp-collector's feed_config.yml):
//       broker: "10.0.0.10"  port: 10_000  tls: False  identity: writer  secret: s  channels: [spam.mails]
// (b) typed file (spamtrap-system's collectors' feed_config.yaml): `type: amqp|hpfeeds` selects one of the
//       `amqp:` {host, port, vhost, ident, secret, exchange, routing_key, tls, check_cert} or
//       `hpfeeds:` {host, port, ident, secret, channels, tls} sections; the other one is ignored.
// Defaults are the seeds' own where they had one (AMQP there meant TLS on 5671).
import { z } from 'zod';
import { bool, commonSections, list, port, type ConfigInput } from './schema.js';

export const flatHpfeedsFileSchema = z
  .object({
    ...commonSections,
    broker: z.string().min(1),
    port: port.default(10_000),
    tls: bool().default(false),
    identity: z.string().min(1),
    secret: z.string(),
    channels: list(z.string().min(1)),
  })
  .strict();

const seedAmqpSection = z
  .object({
    host: z.string().min(1).default('localhost'),
    port: port.default(5671),
    vhost: z.string().default('/'),
    ident: z.string().min(1).default('writer'),
    secret: z.string().default('secret'),
    exchange: z.string().min(1).default('spam'),
    routing_key: z.string().default('spam.mails'),
    tls: bool().default(true),
    check_cert: bool().default(true),
  })
  .strict();

const seedHpfeedsSection = z
  .object({
    host: z.string().min(1),
    port: port.default(10_000),
    ident: z.string().min(1),
    secret: z.string(),
    channels: list(z.string().min(1)).default(['spam.mails']),
    tls: bool().default(false),
  })
  .strict();

export const typedFileSchema = z.discriminatedUnion('type', [
  z.object({ ...commonSections, type: z.literal('amqp'), amqp: seedAmqpSection, hpfeeds: z.unknown().optional() }).strict(),
  z.object({ ...commonSections, type: z.literal('hpfeeds'), hpfeeds: seedHpfeedsSection, amqp: z.unknown().optional() }).strict(),
]);

export type FileFormat = 'sinks' | 'flat-hpfeeds' | 'typed';

/** Which format a parsed YAML document is written in, by its distinctive top-level keys. */
export function detectFormat(doc: Record<string, unknown>): FileFormat {
  if ('type' in doc) return 'typed';
  if ('broker' in doc || 'identity' in doc) return 'flat-hpfeeds';
  return 'sinks';
}

type Common = Pick<ConfigInput, 'lmtp' | 'format' | 'spool' | 'metrics' | 'log'>;
function common(c: Common): Common {
  return { lmtp: c.lmtp, format: c.format, spool: c.spool, metrics: c.metrics, log: c.log };
}

export function fromFlatHpfeeds(f: z.output<typeof flatHpfeedsFileSchema>): ConfigInput {
  return {
    ...common(f),
    sinks: [
      {
        type: 'hpfeeds',
        host: f.broker,
        port: f.port,
        ident: f.identity,
        secret: f.secret,
        channels: f.channels,
        tls: { enabled: f.tls },
      },
    ],
  };
}

export function fromTyped(f: z.output<typeof typedFileSchema>): ConfigInput {
  if (f.type === 'amqp') {
    const a = f.amqp;
    return {
      ...common(f),
      sinks: [
        {
          type: 'amqp',
          host: a.host,
          port: a.port,
          vhost: a.vhost,
          username: a.ident,
          password: a.secret,
          exchange: a.exchange,
          routingKey: a.routing_key,
          tls: { enabled: a.tls, verify: a.check_cert },
        },
      ],
    };
  }
  const h = f.hpfeeds;
  return {
    ...common(f),
    sinks: [
      { type: 'hpfeeds', host: h.host, port: h.port, ident: h.ident, secret: h.secret, channels: h.channels, tls: { enabled: h.tls } },
    ],
  };
}
