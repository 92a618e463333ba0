// Leftovers of a test run that was killed before its after() hooks ran (Ctrl-C, a CI timeout): each
// test directory names the process that owns it, and the next run stops whatever still runs out of
// a directory whose owner is gone, then deletes it. Normal runs clean up in their after() hooks.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PREFIXES = ['e2e-postfix-', 'e2e-appliance-'];
const OWNER_FILE = 'owner.pid';

/** Marks a fresh test directory as belonging to this test process. */
export async function claim(dir: string): Promise<void> {
  await fs.writeFile(path.join(dir, OWNER_FILE), String(process.pid));
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** PIDs whose command line, working directory or environment mention dir. */
async function processesUsing(dir: string): Promise<number[]> {
  const pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => p !== process.pid);
  const using: number[] = [];
  for (const pid of pids) {
    const [cmdline, environ, cwd] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => ''),
      fs.readFile(`/proc/${pid}/environ`, 'latin1').catch(() => ''),
      fs.readlink(`/proc/${pid}/cwd`).catch(() => ''),
    ]);
    if (cmdline.includes(dir) || environ.includes(dir) || cwd.startsWith(dir)) using.push(pid);
  }
  return using;
}

let reaped: Promise<void> | undefined;

/** Once per test process: stop and delete what killed runs left behind. */
export function reapOrphans(): Promise<void> {
  reaped ??= (async () => {
    const tmp = os.tmpdir();
    for (const name of await fs.readdir(tmp)) {
      if (!PREFIXES.some((p) => name.startsWith(p))) continue;
      const dir = path.join(tmp, name);
      const owner = Number(await fs.readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => 'NaN'));
      if (!Number.isInteger(owner) || alive(owner)) continue; // unclaimed (just created) or still in use
      await run('postfix', ['-c', path.join(dir, 'config'), 'stop']).catch(() => undefined);
      for (const pid of await processesUsing(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
  })();
  return reaped;
}
