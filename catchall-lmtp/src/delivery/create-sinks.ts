// Builds the configured sinks; each connects in the background once started. Two sinks with the same
// name (same type and address) are refused, so that logs and metrics can tell every sink apart.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { defaultConnectionName } from '../sinks/amqp-endpoint.js';
import { AmqpSink } from '../sinks/amqp.js';
import { HpfeedsSink } from '../sinks/hpfeeds.js';
import { MaildirSink } from '../sinks/maildir.js';
import type { Sink } from '../sinks/sink.js';
import { ConfigError } from '../config/errors.js';

/** `program` names the connection at the broker (rabbitmqctl list_connections), e.g. imap-collector. */
export function createSinks(config: Config, logger: Logger, program?: string): Sink[] {
  const sinks = config.sinks.map((options): Sink => {
    const deps = { logger: logger.child({ component: 'sink', type: options.type }) };
    switch (options.type) {
      case 'amqp':
        return new AmqpSink({ ...options, connectionName: defaultConnectionName(program) }, deps);
      case 'maildir':
        return new MaildirSink(options, deps);
      case 'hpfeeds':
        return new HpfeedsSink(options, deps);
    }
  });
  const names = sinks.map((s) => s.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new ConfigError(`sinks: two sinks are both called ${duplicate} (same type and address); remove one`);
  return sinks;
}
