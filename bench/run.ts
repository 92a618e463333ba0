// `make bench` / `make bench-smoke`: runs every measure, writes the results and the report.
//   node --import tsx bench/run.ts --out DIR [--smoke]
// Writes DIR/results.json, DIR/BENCHMARKS.md and DIR/results.svg; exits 1 if any measure failed
// (a message lost, a process that crashed, a time bound hit).
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stopAll } from './lib/process.js';
import { settleFileSystem } from './lib/settle.js';
import { fullPlan, smokePlan, type Plan } from './plan.js';
import { machineFacts } from './report/machine.js';
import { renderMarkdown } from './report/markdown.js';
import { renderChart } from './report/svg.js';
import type { Results } from './results.js';
import { startAiosmtpd } from './servers/aiosmtpd.js';
import { collectorAvailable, COLLECTOR_MODES, ModeUnavailable, startCollector } from './servers/collector.js';
import { startNodeLmtpNoop, startSmtpServerNoop } from './servers/noop.js';
import { startSmtpSink } from './servers/smtp-sink.js';
import type { LmtpTarget } from './servers/target.js';
import { fanout } from './suites/fanout.js';
import { ingestPoint, medianRound, type IngestResult, type IngestState } from './suites/ingest.js';
import { bigMessages, bigMessagesReference, slowSubscriber } from './suites/memory.js';
import { medianPostfix, postfixUnavailable, throughPostfix, type PostfixResult } from './suites/postfix.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, smoke: { type: 'boolean', default: false } } });
if (!values.out) {
  console.error('usage: run.ts --out DIR [--smoke]');
  process.exit(2);
}
const outDir = values.out;
const plan: Plan = values.smoke ? smokePlan : fullPlan;
const log = (line: string): void => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);

const started = performance.now();
const results: Results = {
  plan: plan.smoke ? 'smoke' : 'full',
  startedAt: new Date().toISOString(),
  seconds: 0,
  loadAverageAtEnd: 0,
  machine: machineFacts(),
  ingest: [],
  postfix: [],
  bigMessages: [],
  slowSubscriber: null,
  fanout: null,
  skipped: [],
  failures: [],
};

/** Before a step that creates many files, after one that may have removed many (a Postfix queue); see lib/settle.ts. */
const settle = (): Promise<void> => (plan.smoke ? Promise.resolve() : settleFileSystem(log));

/**
 * Runs one measure; a failure is recorded (and fails the run) but the other measures still run.
 * Unless `keepRunning`, whatever the measure left running is stopped.
 */
async function measure(what: string, fn: () => Promise<void>, opts: { keepRunning?: boolean } = {}): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!opts.keepRunning) await stopAll();
    if (err instanceof ModeUnavailable) {
      results.skipped.push(`${what}: ${err.message}`);
      log(`skipped ${what}: ${err.message}`);
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    results.failures.push(`${what}: ${msg.split('\n')[0]}`);
    log(`FAILED ${what}: ${msg}`);
  }
}

const targets: { name: string; start: () => Promise<LmtpTarget> }[] = [
  { name: 'smtp-sink', start: () => startSmtpSink() },
  { name: 'aiosmtpd', start: () => startAiosmtpd() },
  { name: 'node no-op', start: () => startNodeLmtpNoop() },
  { name: 'smtp-server no-op', start: () => startSmtpServerNoop() },
];
if (collectorAvailable()) {
  for (const mode of COLLECTOR_MODES) targets.push({ name: `ours:${mode}`, start: () => startCollector(mode) });
} else {
  results.skipped.push('our collector: catchall-lmtp has no command line in this checkout yet');
}

await settle(); // whatever ran before the bench (a test suite) may have removed many files

// For each message size, every server is started fresh (no heap carried over from the previous size),
// then the session counts are measured target after target, so that the runs a ratio compares are
// seconds apart: the machine's background load changes less in between.
for (const size of plan.sizes) {
  const states: IngestState[] = [];
  // Started side by side: idle servers cost nothing, and it saves seconds.
  await Promise.all(
    targets.map((t) =>
      measure(`start ${t.name} for ${size} B`, async () => {
        states.push({ target: await t.start(), sent: 0 });
      }, { keepRunning: true }), // a start that fails cleans up after itself; the others keep running
    ),
  );
  states.sort((a, b) => targets.findIndex((t) => t.name === a.target.name) - targets.findIndex((t) => t.name === b.target.name));
  const broken = new Set<IngestState>();
  for (const sessions of plan.sessions) {
    const rounds = new Map<IngestState, IngestResult[]>(states.map((s) => [s, []]));
    for (let round = 0; round < plan.rounds(size, sessions); round++) {
      for (const state of states) {
        if (broken.has(state)) continue; // after a failure its counts mean nothing
        await measure(`ingest ${state.target.name} ${size} B ${sessions} sessions`, async () => {
          try {
            rounds.get(state)!.push(await ingestPoint(state, plan, size, sessions, log));
          } catch (err) {
            broken.add(state);
            throw err;
          }
        }, { keepRunning: true });
      }
    }
    for (const state of states) {
      const done = rounds.get(state)!;
      if (done.length > 0 && !broken.has(state)) results.ingest.push(medianRound(done));
    }
  }
  for (const state of states) await state.target.stop();
  await settle();
}

const noPostfix = postfixUnavailable();
if (noPostfix) results.skipped.push(`through Postfix: ${noPostfix}`);
else {
  const nexts = plan.postfixNexts.filter((n) => n === 'smtp-sink' || collectorAvailable());
  const rounds = new Map<string, PostfixResult[]>(nexts.map((n) => [n, []]));
  for (let round = 0; round < plan.postfix.rounds; round++) {
    for (const next of nexts) {
      await measure(`through Postfix to ${next}`, async () => {
        rounds.get(next)!.push(await throughPostfix(next, plan, log));
      });
      await settle();
    }
  }
  for (const done of rounds.values()) if (done.length > 0) results.postfix.push(medianPostfix(done));
}

await measure(`memory smtp-server no-op ${plan.bigMessage.size} B messages`, async () => {
  results.bigMessages.push(await bigMessagesReference(plan, log));
});
if (collectorAvailable()) {
  for (const mode of plan.bigMessageModes) {
    await measure(`memory ours:${mode} ${plan.bigMessage.size} B messages`, async () => {
      results.bigMessages.push(await bigMessages(mode, plan, log));
    });
    await settle();
  }
}
await measure('memory hpfeeds-broker with a slow subscriber', async () => {
  results.slowSubscriber = await slowSubscriber(plan, log);
});
await measure('hpfeeds fan-out', async () => {
  results.fanout = await fanout(plan, log);
});

results.seconds = (performance.now() - started) / 1000;
results.loadAverageAtEnd = loadavg()[0] ?? 0;
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
await writeFile(join(outDir, 'results.svg'), renderChart(results));
await writeFile(join(outDir, 'BENCHMARKS.md'), renderMarkdown(results, 'bench/results.svg'));
log(`done in ${results.seconds.toFixed(0)} s: ${results.failures.length} failed, ${results.skipped.length} skipped`);
for (const f of results.failures) log(`FAILED ${f}`);
for (const s of results.skipped) log(`skipped ${s}`);
process.exit(results.failures.length > 0 ? 1 : 0);
