// Bundles each command (catchall-lmtp, hpfeeds-broker, hpfeeds, imap-collector) into one ES module
// under <workspace>/dist/, with esbuild. Every bin/ script runs its bundle, in tests, native mode and
// containers alike: TypeScript compiled in process (tsx) costs each service ~35 MB of memory (its
// loader thread) and a second of CPU at every start. The workspaces' own code, including what one
// imports from another (catchall-lmtp/hpfeeds), is bundled; npm packages stay external, loaded from
// node_modules as usual. Runs as `npm run build` (and after `npm ci`, as the root's prepare script).
import { build } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORKSPACES = new Set(['catchall-lmtp', 'broker-dev', 'imap-collector']);
const ENTRIES = ['catchall-lmtp/src/cli.ts', 'broker-dev/src/broker-cli.ts', 'broker-dev/src/client-cli.ts', 'imap-collector/src/cli.ts'];

/** npm packages are external; a bare import of a workspace (or a relative one) is bundled. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      return WORKSPACES.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

const started = Date.now();
const results = await Promise.all(
  ENTRIES.map((entry) =>
    build({
      absWorkingDir: ROOT,
      write: false,
      entryPoints: [entry],
      outfile: entry.replace('/src/', '/dist/').replace(/\.ts$/, '.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      keepNames: true, // error and class names appear in logs
      sourcemap: true, // node --enable-source-maps maps stack traces back to the TypeScript
      plugins: [externalPackages],
      logLevel: 'warning',
    }),
  ),
);
// Each file replaced by a rename, so a command starting meanwhile never loads a half-written bundle.
for (const { outputFiles } of results) {
  for (const file of outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    writeFileSync(`${file.path}.${process.pid}.tmp`, file.contents);
    renameSync(`${file.path}.${process.pid}.tmp`, file.path);
  }
}
console.log(`build: ${ENTRIES.length} bundles in ${Date.now() - started} ms`);
