// hpfeeds broker fan-out: one publisher, N subscribers on the same channel; msgs/s delivered in total.
import { hpfeedsPeer, type HpfeedsPeer } from '../lib/hpfeeds-peer.js';
import { waitUntil } from '../lib/process.js';
import type { Plan } from '../plan.js';
import { BENCH_IDENT, CHANNEL, startBroker } from '../servers/hpfeeds-broker.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** messages the publisher may be ahead of the slowest subscriber (~4 MB at 4 KiB, under the broker's 8 MiB buffer) */
const WINDOW = 1000;

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
    // Windowed: the publisher stays at most WINDOW messages ahead of the slowest subscriber. The
    // subscribers share this process with the publisher; unbounded, they fall megabytes behind and
    // the broker rightly drops them as slow (its bounded send buffer), which is not what this measures.
    for (let i = 0; i < count; i++) {
      await pub.publish(CHANNEL, payload);
      if (i % 100 === 99 && i - Math.min(...subs.map((s) => s.received())) > WINDOW) {
        await waitUntil(() => i - Math.min(...subs.map((s) => s.received())) <= WINDOW / 2 || subs.some((s) => s.closed()), plan.runTimeoutMs, 'subscribers to catch up', 1);
        const gone = subs.find((s) => s.closed());
        if (gone) throw new Error(`a subscriber was disconnected: ${gone.error() ?? 'no ERROR'}`);
      }
    }
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
