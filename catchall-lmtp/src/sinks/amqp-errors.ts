// Broker refusals that a configuration change fixes, explained in terms of that configuration.
// RabbitMQ's own texts name the AMQP argument ("inequivalent arg 'durable'"), not our setting.
import type { AmqpSinkConfig } from '../config/schema.js';

export interface Explained {
  message: string;
  /** Retrying soon cannot help: the broker or the config has to change first. */
  needsConfigChange: boolean;
}

const SETTING_FOR_ARG: Record<string, 'exchangeDurable' | 'exchangeType'> = {
  durable: 'exchangeDurable',
  type: 'exchangeType',
};

/** amqplib puts the AMQP reply code on `code` and the reply text in the message. */
export function explainAmqpError(
  err: unknown,
  config: Pick<AmqpSinkConfig, 'exchange' | 'username' | 'vhost' | 'declareExchange'>,
): Explained {
  const error = err as { code?: unknown; message?: string };
  const text = String(error.message ?? err);
  const code = error.code;

  // PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'spam' in vhost '/': received 'false' but current is 'true'
  const inequivalent = /inequivalent arg '([^']+)' for exchange '([^']*)'.*received '([^']*)' but current is '([^']*)'/.exec(text);
  if (code === 406 && inequivalent) {
    const [, arg, exchange, , current] = inequivalent as unknown as [string, string, string, string, string];
    const setting = SETTING_FOR_ARG[arg];
    return {
      needsConfigChange: true,
      message: setting
        ? `the broker has exchange '${exchange}' declared ${arg}=${current}; set amqp.${setting}: ${current} (broker said: ${text})`
        : `the broker has exchange '${exchange}' declared with ${arg}=${current}, which this sink cannot match; delete the exchange or declare it yourself and set amqp.declareExchange: false (broker said: ${text})`,
    };
  }
  if (code === 404 && /no exchange/.test(text)) {
    return config.declareExchange
      ? { needsConfigChange: false, message: `exchange '${config.exchange}' vanished; it is declared again on reconnect (broker said: ${text})` }
      : {
          needsConfigChange: true,
          message: `exchange '${config.exchange}' does not exist; create it, or set amqp.declareExchange: true (broker said: ${text})`,
        };
  }
  if (code === 403 || /ACCESS_REFUSED/.test(text)) {
    return {
      needsConfigChange: true,
      message: `access refused for user '${config.username}' (check amqp.username, amqp.password and the user's permissions on vhost '${config.vhost}') (broker said: ${text})`,
    };
  }
  return { needsConfigChange: false, message: text };
}
