// Through Postfix: smtp-source speaks SMTP to a native Postfix instance (rendered by the appliance's own
// scripts, via the end-to-end tests' helper), which relays over LMTP to our collector and on to the
// broker. Timed until the broker has every message, against the same Postfix relaying to smtp-sink.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../lib/process.js';
import { sendLoad } from '../lib/smtp-source.js';
import type { Plan } from '../plan.js';
import { startCollector, type CollectorMode } from '../servers/collector.js';
import { startSmtpSink } from '../servers/smtp-sink.js';

export interface PostfixResult {
  /** what Postfix relays to: "smtp-sink" or "ours:<mode>" */
  next: string;
  count: number;
  sessions: number;
  size: number;
  /** messages relayed before the timed ones (not timed) */
  warmup: number;
  /** until smtp-source had every 250 from Postfix (queued, not yet relayed) */
  smtpMs: number;
  /** from the first SMTP connection until the destination has every message */
  ms: number;
  msgsPerSec: number;
  /** LMTP deliveries Postfix had to defer (and retry) */
  deferred: number;
  /** msgs/s of every round, when measured in several (this result is their median) */
  rounds?: number[];
}

/** The median round (by msgs/s), with every round's rate. */
export function medianPostfix(rounds: PostfixResult[]): PostfixResult {
  if (rounds.length === 1) return rounds[0]!;
  const sorted = [...rounds].sort((a, b) => a.msgsPerSec - b.msgsPerSec);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, rounds: rounds.map((r) => r.msgsPerSec) };
}

const HELPER = fileURLToPath(new URL('../../e2e/helpers/postfix.ts', import.meta.url));
const TRAP_DOMAIN = 'bench.test';


/** Why the Postfix measures cannot run in this checkout, or undefined when they can. */
export function postfixUnavailable(): string | undefined {
  if (!existsSync(HELPER)) return 'the native Postfix test instance helper (e2e/helpers/postfix.ts) is not in this checkout';
  if (process.getuid?.() !== 0) return 'a Postfix instance needs root (its master process starts as root)';
  return undefined;
}

export async function throughPostfix(next: 'smtp-sink' | CollectorMode, plan: Plan, log: (l: string) => void): Promise<PostfixResult> {
  const { PostfixInstance } = await import('../../e2e/helpers/postfix.js');
  const target = next === 'smtp-sink' ? await startSmtpSink() : await startCollector(next);
  try {
    const postfix = await PostfixInstance.start({ lmtpPort: target.port, relayDomains: [TRAP_DOMAIN] });
    try {
      const { count, sessions, size, warmup } = plan.postfix;
      const logFile = postfix.env.MAILLOG_FILE!;
      const countIn = async (re: RegExp): Promise<number> => ((await readFile(logFile, 'utf8').catch(() => '')).match(re) ?? []).length;
      const delivered = target.delivered ? target.delivered.bind(target) : undefined;
      const atDestination = async (): Promise<number> => (delivered ? delivered() : await countIn(/ status=sent /g));
      const send = (n: number) =>
        sendLoad({
          protocol: 'smtp',
          port: postfix.smtpPort,
          sessions,
          count: n,
          size,
          to: `trap@${TRAP_DOMAIN}`,
          from: 'sender@bench.example',
          timeoutMs: plan.runTimeoutMs,
        });
      const allArrived = async (n: number, what: string): Promise<void> => {
        await waitUntil(async () => (await atDestination()) >= n, plan.runTimeoutMs, what, delivered ? 10 : 50).catch(async (err: Error) => {
          throw new Error(`LOSS or stall: ${err.message}; at the destination: ${await atDestination()}`);
        });
      };
      // Warm-up, not timed: Postfix's processes and connection cache, and the collector's JIT, in the
      // state a running appliance is in (the ingest runs warm up the same way).
      if (warmup > 0) {
        await send(warmup);
        await allArrived(warmup, `${warmup} warm-up messages through Postfix to ${target.name}`);
      }
      const deferredBefore = await countIn(/ status=deferred /g);
      const started = performance.now();
      const smtp = await send(count);
      await allArrived(warmup + count, `${count} messages through Postfix to ${target.name}`);
      const ms = performance.now() - started;
      if (delivered && delivered() !== warmup + count) throw new Error(`${target.name}: ${delivered()} messages for ${warmup + count} sent (duplicates?)`);
      const deferred = (await countIn(/ status=deferred /g)) - deferredBefore;
      const r = { next: target.name, count, sessions, size, warmup, smtpMs: smtp.ms, ms, msgsPerSec: (count * 1000) / ms, deferred };
      log(
        `postfix → ${target.name.padEnd(13)} ${count} × ${size} B, ${sessions} SMTP sessions: ${r.msgsPerSec.toFixed(0)} msgs/s ` +
          `end to end (SMTP done after ${(smtp.ms / 1000).toFixed(2)} s, all delivered after ${(ms / 1000).toFixed(2)} s), ${deferred} deferred`,
      );
      return r;
    } finally {
      await postfix.stop();
    }
  } finally {
    await target.stop();
  }
}
