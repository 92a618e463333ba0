// Keeps one measure's clean-up from slowing the next one down. On our machines (ext4 without a
// journal, mounted with `discard`), once tens of thousands of files have been removed, creating a file
// costs ~800 µs instead of ~30 µs for the next 3 to 25 s (seen with `sync` right after the removal;
// longer without). A spool or maildir run creates two files per message, so a removal just before it
// would be charged to it. Hence: what a measure wrote is removed only when the bench ends
// (removeWhenDone), and settleFileSystem() waits, at the start, until creating files costs what it
// normally does, measured.
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './process.js';

/** A create below this is normal here (~30 µs); the slow state is ~20× more. */
const NORMAL_CREATE_US = 150;
const PROBE_FILES = 1000;
const MAX_WAIT_MS = 90_000;
/** Below this much free space, what a measure wrote is removed right away after all. */
const KEEP_FREE_BYTES = 8 * 1024 ** 3;

const doomed = new Set<string>();
let probeRoot: string | undefined;
let probes = 0;

/** Removes `path` (recursively) when the bench process exits, not now (unless the disk is nearly full). */
export function removeWhenDone(path: string): void {
  const fs = statfsSync(path);
  if (fs.bavail * fs.bsize < KEEP_FREE_BYTES) rmSync(path, { recursive: true, force: true });
  else doomed.add(path);
}

/** Removes everything passed to removeWhenDone, at exit. */
function removeNow(): void {
  for (const path of doomed) rmSync(path, { recursive: true, force: true });
  doomed.clear();
}
process.on('exit', removeNow);

/** Writes dirty pages out, then waits (bounded) until a file creation costs the normal time again. */
export async function settleFileSystem(log?: (line: string) => void): Promise<void> {
  await run('sync', [], { timeoutMs: 60_000 });
  const started = performance.now();
  for (let round = 0; ; round++) {
    const us = probeCreate();
    if (us < NORMAL_CREATE_US) return;
    const waited = performance.now() - started;
    if (waited > MAX_WAIT_MS) {
      log?.(`file system still slow after ${(waited / 1000).toFixed(0)} s (a file creation costs ${us.toFixed(0)} µs); going on`);
      return;
    }
    if (round === 0) log?.(`file system settling (a file creation costs ${us.toFixed(0)} µs; normal is under ${NORMAL_CREATE_US})`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

/** Mean µs to create and fill a small file; the probe files are kept until the end (see above). */
function probeCreate(): number {
  if (!probeRoot) {
    probeRoot = mkdtempSync(join(tmpdir(), 'bench-settle-'));
    removeWhenDone(probeRoot);
  }
  const dir = join(probeRoot, String(probes++));
  mkdirSync(dir);
  const body = Buffer.alloc(4096, 'x');
  const t = performance.now();
  for (let i = 0; i < PROBE_FILES; i++) writeFileSync(join(dir, String(i)), body, { flag: 'wx' });
  return ((performance.now() - t) * 1000) / PROBE_FILES;
}
