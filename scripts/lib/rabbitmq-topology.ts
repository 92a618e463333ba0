// Makes sure trap mail published by the collector has somewhere to go on a plain RabbitMQ (the machine's,
// in native mode): the exchange as the collector and spamtrap-system's consumers declare it (topic, not
// durable) and a durable queue bound with the routing key. Without a bound queue every publish is
// unroutable and the collector answers 451. An exchange that already exists is left as it is.
// Usage: node --import tsx scripts/lib/rabbitmq-topology.ts AMQP_URL EXCHANGE ROUTING_KEY QUEUE
import amqp from 'amqplib';

const [url, exchange, routingKey, queue] = process.argv.slice(2);
if (!url || !exchange || !routingKey || !queue) {
  console.error('usage: rabbitmq-topology.ts AMQP_URL EXCHANGE ROUTING_KEY QUEUE');
  process.exit(2);
}

const conn = await amqp.connect(url);
try {
  // checkExchange fails (and closes the channel) when the exchange is missing; then declare it.
  const probe = await conn.createChannel();
  probe.on('error', () => {});
  const exists = await probe.checkExchange(exchange).then(() => true, () => false);
  if (exists) await probe.close();
  const ch = await conn.createChannel();
  if (!exists) await ch.assertExchange(exchange, 'topic', { durable: false });
  await ch.assertQueue(queue, { durable: true });
  await ch.bindQueue(queue, exchange, routingKey);
  await ch.close();
  console.log(`rabbitmq: queue ${queue} bound to exchange ${exchange} with ${routingKey}`);
} finally {
  await conn.close();
}
