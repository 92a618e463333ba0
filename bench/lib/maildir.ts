import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Messages in a maildir: new/ and cur/ (tmp/ holds only unfinished writes). */
export function countMaildir(dir: string): number {
  let n = 0;
  for (const sub of ['new', 'cur']) {
    try {
      n += readdirSync(join(dir, sub)).length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return n;
}
