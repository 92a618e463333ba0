// hpfeeds broker fan-out: one publisher, N subscribers on the same channel; msgs/s delivered in total.
import { hpfeedsPeer, type HpfeedsPeer } from '../lib/hpfeeds-peer.js';
import { waitUntil } from '../lib/process.js';
import type { Plan } from '../plan.js';
import { BENCH_IDENT, CHANNEL, startBroker } from '../servers/hpfeeds-broker.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FanoutResult {
  subscribers: number;
  count: number;
  size: number;
  ms: number;
  /** deliveries per second, all subscribers together */
  deliveredPerSec: number;
  /** published messages per second that every subscriber received */
  publishedPerSec: number;
}

export async function fanout(plan: Plan, log: (l: string) => void): Promise<FanoutResult> {
  const broker = await startBroker();
  const peers: HpfeedsPeer[] = [];
  try {
    const { subscribers, count, size } = plan.fanout;
    for (let i = 0; i < subscribers; i++) {
      const p = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
      p.subscribe(CHANNEL);
      peers.push(p);
    }
    const pub = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
    peers.push(pub);
    await sleep(100); // SUBSCRIBE has no reply; let the broker register them
    const subs = peers.slice(0, subscribers);
    const payload = Buffer.alloc(size, 'x');
    const started = performance.now();
    for (let i = 0; i < count; i++) await pub.publish(CHANNEL, payload);
    await waitUntil(() => subs.every((s) => s.received() >= count), plan.runTimeoutMs, `${subscribers} subscribers to get ${count} messages`, 5);
    const ms = performance.now() - started;
    const lost = subs.filter((s) => s.received() !== count);
    if (lost.length > 0) throw new Error(`LOSS: ${lost.length} subscribers did not get exactly ${count} messages`);
    const r = { subscribers, count, size, ms, deliveredPerSec: (subscribers * count * 1000) / ms, publishedPerSec: (count * 1000) / ms };
    log(`fanout ${subscribers} subscribers × ${count} × ${size} B: ${r.deliveredPerSec.toFixed(0)} deliveries/s (${r.publishedPerSec.toFixed(0)} msgs/s published)`);
    return r;
  } finally {
    for (const p of peers) p.close();
    await broker.stop();
  }
}
