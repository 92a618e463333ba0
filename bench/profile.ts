// Profiles the collector under smtp-source load: node --cpu-prof, then the top self-time functions.
//   node --import tsx bench/profile.ts [spool|amqp|hpfeeds] [size=4096] [sessions=10] [count=3000]
// Prints where the main thread spends its time and the per-message latency the collector logged;
// keeps the .cpuprofile (open it in Chrome DevTools or speedscope) and names its path.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { settleFileSystem } from './lib/settle.js';
import { sendLoad } from './lib/smtp-source.js';
import { checkDelivered } from './suites/ingest.js';
import { COLLECTOR_MODES, startCollector, type CollectorMode } from './servers/collector.js';

const [modeArg = 'spool', size = '4096', sessions = '10', count = '3000'] = process.argv.slice(2);
if (!COLLECTOR_MODES.includes(modeArg as CollectorMode)) {
  console.error(`usage: profile.ts [${COLLECTOR_MODES.join('|')}] [size] [sessions] [count]`);
  process.exit(2);
}
const mode = modeArg as CollectorMode;
execFileSync(process.execPath, [new URL('../scripts/build.mjs', import.meta.url).pathname], { stdio: 'ignore' }); // the collector runs its bundle
await settleFileSystem(console.log); // see lib/settle.ts
const profDir = await mkdtemp(join(tmpdir(), 'bench-profile-'));
const collector = await startCollector(mode, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
const load = { protocol: 'lmtp' as const, port: collector.port, sessions: Number(sessions), size: Number(size), timeoutMs: 120_000 };
let latencies: number[] = [];
try {
  await sendLoad({ ...load, count: 300 }); // warm-up
  const r = await sendLoad({ ...load, count: Number(count) });
  await checkDelivered(collector, 300 + Number(count), 30_000);
  console.log(`ours:${mode} ${size} B × ${count}, ${sessions} sessions: ${r.msgsPerSec.toFixed(0)} msgs/s`);
  const log = await readFile(collector.logFile, 'utf8');
  latencies = [...log.matchAll(/"ms":([\d.]+)[^\n]*"msg":"message accepted"/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
} finally {
  await collector.stop(); // the profile is written when the process exits
}
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
console.log(`DATA-to-reply latency (ms) as logged: p50 ${pct(0.5)}  p90 ${pct(0.9)}  p99 ${pct(0.99)}  max ${pct(1)}`);

// The main thread's profile is the largest file (tsx's loader worker writes a second one).
const files = await Promise.all((await readdir(profDir)).map(async (f) => ({ f, size: (await readFile(join(profDir, f))).length })));
const main = files.sort((a, b) => b.size - a.size)[0];
if (!main) throw new Error(`no profile written in ${profDir}`);
const path = join(profDir, main.f);
summarise(JSON.parse(await readFile(path, 'utf8')) as CpuProfile);
console.log(`profile: ${path}`);

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

function summarise(prof: CpuProfile): void {
  const frames = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const cf = frames.get(id)!;
    const url = (cf.url || '(native)').replace(/^file:\/\/.*?\/(catchall-lmtp|broker-dev)\//, '$1/').replace(/.*node_modules\//, '');
    const fn = `${cf.functionName || '(anonymous)'}  ${url}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    const file = url.startsWith('catchall-lmtp/') || url.startsWith('node:') || url === '(native)' ? url : url.split('/')[0]!;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
    byFile.set(file, (byFile.get(file) ?? 0) + dt);
    total += dt;
  });
  const top = (m: Map<string, number>, n: number): void => {
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
  };
  console.log(`\nmain thread, ${(total / 1e6).toFixed(1)} s sampled; self time by function:`);
  top(byFunction, 25);
  console.log('\nself time by file / package:');
  top(byFile, 15);
}
