// Checks a Dockerfile without a Docker engine (scripts/lint.sh runs it for every image):
//   - it parses: known instructions, FROM before the rest, COPY --from naming an earlier stage;
//   - every COPY source exists in the build context and is not excluded by its .dockerignore;
//   - a stage that runs `npm ci` for the whole tree has copied every workspace's package.json first;
//   - the final stage of a Node image, replayed natively in a temp dir: its COPYs, its `npm ci`, then
//     its ENTRYPOINT with --help must exit 0 (this catches a runtime import of a devDependency, a missing
//     file, a wrong bin path); its HEALTHCHECK's `node -e` code must at least compile.
// Usage: node scripts/lint/dockerfile.mjs CONTEXT_DIR DOCKERFILE
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { Script } from 'node:vm';

const [contextArg, dockerfileArg] = process.argv.slice(2);
if (!contextArg || !dockerfileArg) {
  console.error('usage: dockerfile.mjs CONTEXT_DIR DOCKERFILE');
  process.exit(2);
}
const context = resolve(contextArg);
const dockerfile = resolve(dockerfileArg);
const name = relative(process.cwd(), dockerfile);
const problems = [];
const problem = (line, text) => problems.push(`${name}:${line}: ${text}`);

const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER',
  'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'MAINTAINER']);

/** Instructions with their line numbers, continuation lines joined and comments dropped. */
function parse(text) {
  const out = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (buffer === '' && /^\s*(#|$)/.test(line)) return;
    if (buffer !== '' && /^\s*#/.test(line)) return; // comments inside a continued instruction
    if (buffer === '') start = i + 1;
    if (/\\\s*$/.test(line)) {
      buffer += line.replace(/\\\s*$/, ' ');
      return;
    }
    buffer += line;
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(buffer);
    buffer = '';
    if (!m) return problem(start, 'cannot parse this line');
    out.push({ line: start, op: m[1].toUpperCase(), args: m[2].trim() });
  });
  if (buffer !== '') problem(start, 'the file ends inside a continued line');
  return out;
}

/** JSON (exec form) or whitespace-separated words; leading --flag=value options split off. */
function words(args) {
  const list = args.startsWith('[') ? JSON.parse(args) : args.split(/\s+/).filter(Boolean);
  const flags = {};
  while (list.length && /^--[a-z-]+=/.test(list[0])) {
    const [k, ...v] = list.shift().slice(2).split('=');
    flags[k] = v.join('=');
  }
  return { flags, list };
}

/** .dockerignore: Go filepath.Match patterns plus `**`, relative to the context; the last match wins. */
function ignoreMatcher(dir) {
  const file = join(dir, '.dockerignore');
  const rules = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
        const negate = l.startsWith('!');
        const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
        const re = pattern.split('/').map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/');
        return { negate, re: new RegExp(`^${re.replace(/\.\*\//g, '(.*/)?')}$`) };
      })
    : [];
  return (path) => {
    const parts = posix.normalize(path).split('/');
    let excluded = false;
    for (const { negate, re } of rules) {
      // A pattern that matches a parent directory excludes everything below it.
      for (let n = 1; n <= parts.length; n++) if (re.test(parts.slice(0, n).join('/'))) excluded = !negate;
    }
    return excluded;
  };
}

/** Hard links when possible (instant), else a copy; symlinks (workspace links) kept as they are. */
function copyTree(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  if (spawnSync('cp', ['-al', from, to]).status !== 0) {
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
  }
}

const ignored = ignoreMatcher(context);
const instructions = parse(readFileSync(dockerfile, 'utf8'));
const args = {};
const stages = [];
for (const ins of instructions) {
  if (!KNOWN.has(ins.op)) problem(ins.line, `unknown instruction ${ins.op}`);
  if (ins.op === 'ARG' && stages.length === 0) {
    const [k, v = ''] = ins.args.split('=');
    args[k] = v;
    continue;
  }
  if (ins.op === 'FROM') {
    const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
    if (!m) problem(ins.line, `cannot parse FROM ${ins.args}`);
    const image = (m?.[1] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? '');
    stages.push({ name: m?.[2], image, line: ins.line, body: [] });
    continue;
  }
  if (stages.length === 0) problem(ins.line, `${ins.op} before the first FROM`);
  else stages.at(-1).body.push(ins);
}
if (stages.length === 0) problem(1, 'no FROM');

const rootManifest = join(context, 'package.json');
const workspaces = existsSync(rootManifest) ? JSON.parse(readFileSync(rootManifest, 'utf8')).workspaces ?? [] : [];

// Where each stage's WORKDIR-relative paths come from in the context: `COPY . .` makes the whole
// context visible, so `COPY --from=build /app/x` can be checked against context/x.
for (const stage of stages) {
  let workdir = '/';
  stage.copiedAll = false;
  const copied = new Set();
  for (const ins of stage.body) {
    if (ins.op === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.op !== 'COPY' && ins.op !== 'ADD') continue;
    const { flags, list } = words(ins.args);
    const dest = list.pop();
    if (list.length === 0) problem(ins.line, `${ins.op} needs a source and a destination`);
    if (flags.from !== undefined) {
      const from = stages.find((s) => s.name === flags.from);
      if (!from || stages.indexOf(from) >= stages.indexOf(stage)) problem(ins.line, `COPY --from=${flags.from}: no earlier stage of that name`);
      else if (from.copiedAll) {
        for (const src of list) {
          const rel = posix.relative(from.workdir, src);
          if (rel.startsWith('..') || !existsSync(join(context, rel))) problem(ins.line, `COPY --from=${flags.from} ${src}: ${rel} does not exist in the context`);
          else if (ignored(rel)) problem(ins.line, `COPY --from=${flags.from} ${src}: ${rel} is excluded by .dockerignore`);
        }
      }
      continue;
    }
    for (const src of list) {
      const rel = posix.normalize(src);
      if (rel === '.') {
        if (posix.resolve(workdir, dest) === workdir) stage.copiedAll = true;
        continue;
      }
      if (!existsSync(join(context, rel))) problem(ins.line, `${ins.op} ${src}: not found in the build context ${relative(process.cwd(), context) || '.'}`);
      else if (ignored(rel)) problem(ins.line, `${ins.op} ${src}: excluded by the context's .dockerignore`);
      copied.add(rel.replace(/\/$/, ''));
    }
  }
  stage.workdir = workdir;
  for (const ins of stage.body) {
    if (ins.op === 'RUN' && /\bnpm ci\b/.test(ins.args) && !/\s(-w|--workspace)\b/.test(ins.args)) {
      for (const ws of workspaces) {
        if (!copied.has(`${ws}/package.json`)) problem(ins.line, `npm ci of the whole tree, but ${ws}/package.json (a workspace) is not copied before it`);
      }
    }
  }
}

// ---- replay the final stage of a Node image ------------------------------------------------------------
const final = stages.at(-1);
const entrypoint = final?.body.filter((i) => i.op === 'ENTRYPOINT').at(-1);
const isNode = final && /^node:/.test(final.image) && entrypoint;
if (final && !final.body.some((i) => i.op === 'HEALTHCHECK')) problem(final.line, 'the final stage has no HEALTHCHECK');
if (isNode) {
  const user = final.body.filter((i) => i.op === 'USER').at(-1);
  if (!user || /^(root|0)(:|$)/.test(user.args)) problem(final.line, 'the final stage runs as root (add USER node)');
  for (const hc of final.body.filter((i) => i.op === 'HEALTHCHECK')) {
    const m = /CMD\s+(\[.*\])\s*$/.exec(hc.args);
    const cmd = m ? JSON.parse(m[1]) : [];
    if (cmd[0] === 'node' && cmd[1] === '-e') {
      try {
        new Script(cmd[2]);
      } catch (err) {
        problem(hc.line, `HEALTHCHECK node code does not compile: ${err.message}`);
      }
    }
  }
  const root = mkdtempSync(join(tmpdir(), 'lint-dockerfile-'));
  try {
    const env = { ...process.env };
    let cwd = root;
    const at = (p) => join(root, posix.resolve(final.workdir ?? '/', p));
    for (const ins of final.body) {
      if (ins.op === 'WORKDIR') cwd = at(ins.args);
      if (ins.op === 'ENV') {
        for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '').replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a, b) => env[a ?? b] ?? '');
      }
      if (ins.op === 'COPY') {
        const { flags, list } = words(ins.args);
        const dest = list.pop();
        for (const src of list) {
          const from = flags.from === undefined ? join(context, src) : join(context, posix.relative(stages.find((s) => s.name === flags.from)?.workdir ?? '/', src));
          if (!existsSync(from)) continue; // reported above
          // As Docker does: a directory's contents go into dest; a file goes into dest/ or becomes dest.
          const isDir = statSync(from).isDirectory();
          cpSync(from, isDir || !dest.endsWith('/') ? at(dest) : join(at(dest), posix.basename(src)), { recursive: true });
        }
      }
      if (ins.op === 'RUN') {
        // Only the dependency install is replayed; chown/mkdir of image paths are not for this machine.
        const npm = ins.args.split('&&').map((s) => s.trim()).find((s) => s.startsWith('npm ci'));
        if (!npm) continue;
        // The installed tree is cached under the manifests' checksum: a re-run after a code change
        // costs a copy instead of an install (LINT_NO_CACHE=1 installs every time).
        const key = createHash('sha256').update(npm);
        for (const f of ['package.json', 'package-lock.json', ...workspaces.map((w) => `${w}/package.json`)]) {
          if (existsSync(join(cwd, f))) key.update(f).update(readFileSync(join(cwd, f)));
        }
        const cached = join(tmpdir(), 'smtp-collector-lint-cache', key.digest('hex'));
        if (!process.env.LINT_NO_CACHE && existsSync(cached)) {
          copyTree(cached, join(cwd, 'node_modules'));
          continue;
        }
        const argv = npm.split(/\s+/).slice(1).concat('--prefer-offline', '--loglevel=error');
        const r = spawnSync('npm', argv, { cwd, env: { ...env, NODE_ENV: 'production' }, encoding: 'utf8' });
        if (r.status !== 0) problem(ins.line, `\`${npm}\` failed natively:\n${(r.stderr || r.stdout).trim()}`);
        else if (!existsSync(cached)) {
          // Built aside and renamed into place, so a concurrent run never sees half a tree.
          const partial = `${cached}.${process.pid}`;
          copyTree(join(cwd, 'node_modules'), partial);
          try {
            renameSync(partial, cached);
          } catch {
            rmSync(partial, { recursive: true, force: true });
          }
        }
      }
    }
    if (problems.length === 0) {
      const cmd = JSON.parse(entrypoint.args);
      const r = spawnSync(cmd[0], [...cmd.slice(1), '--help'], { cwd, env, encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0 || !/usage/i.test(r.stdout + r.stderr)) {
        problem(entrypoint.line, `ENTRYPOINT ${cmd.join(' ')} --help, run natively on the replayed stage, exited ${r.status ?? r.signal}:\n${(r.stderr || r.stdout).trim().split('\n').slice(0, 8).join('\n')}`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
} else if (entrypoint) {
  // Other images (postfix/): the entrypoint script must be in the context and executable.
  const cmd = words(entrypoint.args).list;
  const copy = final.body.find((i) => i.op === 'COPY' && words(i.args).list.some((s) => posix.basename(s) === posix.basename(cmd[0] ?? '')));
  const src = copy && words(copy.args).list.find((s) => posix.basename(s) === posix.basename(cmd[0]));
  if (!src) problem(entrypoint.line, `ENTRYPOINT ${cmd[0]} is not COPYed into the image`);
  else {
    try {
      execFileSync('test', ['-x', join(context, src)]);
    } catch {
      problem(entrypoint.line, `ENTRYPOINT ${cmd[0]}: ${src} is not executable`);
    }
  }
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${name}: ok${isNode ? ' (runtime stage replayed, --help starts)' : ''}`);
