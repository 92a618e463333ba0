// In a source checkout, a command whose bundle is older than the TypeScript it was built from would
// silently run old code (after an edit or a git pull): the bin/ scripts call this first and stop with
// the fix instead. Containers ship only the bundles, so there the check does not run.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCES = ['catchall-lmtp/src', 'broker-dev/src', 'imap-collector/src'];

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** Exits with a message when `bundle` (a file URL) is missing or older than any workspace source. */
export function assertFresh(command, bundle) {
  const path = fileURLToPath(bundle);
  let built;
  try {
    built = statSync(path).mtimeMs;
  } catch {
    // missing: reported below
  }
  const changed = Math.max(...SOURCES.map((dir) => newest(join(ROOT, dir))));
  if (built !== undefined && built >= changed) return;
  const why = built === undefined ? `${path} is missing` : `${path} is older than the sources`;
  process.stderr.write(`${command}: ${why}: run \`npm run build\` (npm ci, make test and npm test do it)\n`);
  process.exit(1);
}
