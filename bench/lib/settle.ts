// Lets the file system forget the files a measure deleted before the next one runs. ext4 without a
// journal (as on our machines; /proc/fs/jbd2 is empty) will not reuse an inode freed in the last 5 s,
// or in the last 305 s while its inode table block is still dirty, and a file creation scans past
// every such inode: after one run's 20,000 files are removed, creating a file costs ~750 µs instead of
// ~30 µs for five minutes, which would charge one target's cleanup to the next target's run. Writing
// the dirty blocks out (sync) and waiting out the 5 s window restores the normal cost.
import { run } from './process.js';

const RECENT_DELETE_WINDOW_MS = 6_000;

export async function settleFileSystem(): Promise<void> {
  await run('sync', [], { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, RECENT_DELETE_WINDOW_MS));
}
