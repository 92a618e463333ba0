// Counts what reached RabbitMQ: a unique exchange (declared as the collector declares it) and an
// exclusive queue bound to it, consumed without acks. Messages are told apart by message_id (the
// collector sets it to the sha256), so a duplicate is not mistaken for a delivery.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';

export const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';

export interface AmqpCounter {
  exchange: string;
  routingKey: string;
  /** distinct message ids received */
  distinct(): number;
  /** every delivery, duplicates included */
  received(): number;
  close(): Promise<void>;
}

export async function amqpCounter(): Promise<AmqpCounter> {
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createChannel();
  const exchange = `bench.${process.pid}.${randomBytes(4).toString('hex')}`;
  const routingKey = 'spam.mails';
  await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  const { queue } = await ch.assertQueue(`${exchange}.q`, { exclusive: true, durable: false });
  await ch.bindQueue(queue, exchange, '#');
  const ids = new Set<string>();
  let received = 0;
  await ch.consume(
    queue,
    (msg) => {
      if (!msg) return;
      received++;
      ids.add(String(msg.properties.messageId ?? `#${received}`));
    },
    { noAck: true },
  );
  return {
    exchange,
    routingKey,
    distinct: () => ids.size,
    received: () => received,
    async close() {
      try {
        await ch.deleteQueue(queue);
        await ch.deleteExchange(exchange);
      } finally {
        await conn.close();
      }
    },
  };
}
