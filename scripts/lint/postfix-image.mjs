// Checks the Postfix image further than a Dockerfile parse can (scripts/lint.sh runs it), on this
// Debian machine instead of an engine:
//   - the HEALTHCHECK script is COPYed into the image, from a file that is executable;
//   - the configuration renders with the image's own ENV (ports 25/587/465, LISTEN_ADDRESS=all,
//     MAILLOG_FILE=/dev/stdout, LMTP_HOST=catchall-lmtp) plus the compose service's environment
//     (its POSTFIX_<parameter> lines from postfix.env included): postfix/render.sh into a temp dir,
//     then `postfix -c DIR check`; only the instance's directories are moved into the temp dir;
//   - the packages the image installs resolve: `apt-get install --simulate` with the image's options.
// Usage: node scripts/lint/postfix-image.mjs DOCKERFILE [RESOLVED-COMPOSE.yml...]   (from the repository root)
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import YAML from 'yaml';

const [dockerfile, ...composeFiles] = process.argv.slice(2);
if (!dockerfile) {
  console.error('usage: postfix-image.mjs DOCKERFILE [RESOLVED-COMPOSE.yml...]');
  process.exit(2);
}
const context = dirname(dockerfile);
const problems = [];
const notes = [];
const problem = (text) => problems.push(`${dockerfile}: ${text}`);

// Instructions, continuation lines joined, comments dropped.
const instructions = readFileSync(dockerfile, 'utf8')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('#'))
  .map((l) => /^\s*(\w+)\s+(.*)$/.exec(l))
  .filter(Boolean)
  .map(([, op, args]) => ({ op: op.toUpperCase(), args: args.trim() }));
const final = instructions.slice(instructions.findLastIndex((i) => i.op === 'FROM'));
const baseImage = final[0]?.args.split(/\s+/)[0] ?? '';

/** Where each file of the image comes from: image path → context path (COPY SRC... DEST/). */
const copied = new Map();
for (const { args } of final.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
  const words = args.split(/\s+/);
  const dest = words.pop();
  for (const src of words) {
    const target = dest.endsWith('/') ? posix.join(dest, posix.basename(src)) : dest;
    copied.set(target.replace(/\/$/, ''), join(context, src));
  }
}

/** The context file behind an image path: itself, or below a COPYed directory. */
function sourceOf(imagePath) {
  for (const [target, src] of copied) {
    if (imagePath === target) return src;
    if (imagePath.startsWith(`${target}/`)) return join(src, imagePath.slice(target.length + 1));
  }
  return undefined;
}

// ---- the healthcheck script ------------------------------------------------------------------------
const healthcheck = final.find((i) => i.op === 'HEALTHCHECK');
const hcCommand = healthcheck && JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(healthcheck.args)?.[1] ?? '[]')[0];
if (!hcCommand) problem('no HEALTHCHECK CMD ["script"] in the final stage');
else {
  const src = sourceOf(hcCommand);
  if (!src || !existsSync(src)) problem(`HEALTHCHECK runs ${hcCommand}, which no COPY puts into the image`);
  else {
    try {
      accessSync(src, constants.X_OK);
    } catch {
      problem(`HEALTHCHECK runs ${hcCommand}, but ${src} is not executable`);
    }
  }
}

// ---- the configuration, rendered with the image's environment -------------------------------------
const imageEnv = {};
for (const { args } of final.filter((i) => i.op === 'ENV')) {
  for (const [, k, v] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) imageEnv[k] = v.replace(/^"|"$/g, '');
}
const serviceEnvs = composeFiles.map((f) => YAML.parse(readFileSync(f, 'utf8')).services?.postfix?.environment ?? {});
const variants = [...new Set((serviceEnvs.length ? serviceEnvs : [{}]).map((e) => JSON.stringify(e)))].map((e) => JSON.parse(e));

function render(serviceEnv) {
  const dir = mkdtempSync(join(tmpdir(), 'lint-postfix-'));
  try {
    spawnSync('chmod', ['755', dir]);
    // The container's environment; only where the instance lives moves into the temp dir, and the
    // files the image gets from the context are read from there.
    const env = { PATH: process.env.PATH, ...imageEnv, ...serviceEnv };
    Object.assign(env, {
      POSTFIX_CONFIG_DIR: join(dir, 'config'),
      POSTFIX_QUEUE_DIR: join(dir, 'queue'),
      POSTFIX_DATA_DIR: join(dir, 'data'),
      RELAY_DOMAINS_FILE: sourceOf(env.RELAY_DOMAINS_FILE) ?? env.RELAY_DOMAINS_FILE,
      CERTS_DIR: join(dir, 'certs'),
      LETSENCRYPT_DIR: join(dir, 'letsencrypt'),
    });
    const where = `with the image's ENV${Object.keys(serviceEnv).length ? ' and the compose service environment' : ''}`;
    const r = spawnSync('bash', [join(context, 'render.sh')], { env, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) return problem(`render.sh ${where} exited ${r.status}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-6).join('\n')}`);
    const check = spawnSync('postfix', ['-c', env.POSTFIX_CONFIG_DIR, 'check'], { env, encoding: 'utf8', timeout: 30_000 });
    const said = `${check.stdout}${check.stderr}`.trim();
    if (check.status !== 0 || /warning|fatal/i.test(said)) return problem(`postfix -c DIR check of the configuration rendered ${where}: exit ${check.status}\n${said}`);
    const master = readFileSync(join(env.POSTFIX_CONFIG_DIR, 'master.cf'), 'utf8');
    for (const port of [env.SMTP_PORT ?? '25', env.SUBMISSION_PORT ?? '587', env.SMTPS_PORT ?? '465']) {
      if (!new RegExp(`^${port}\\s+inet\\s.*smtpd$`, 'm').test(master)) problem(`the rendered master.cf has no smtpd on port ${port}`);
    }
    const postconf = (name) => spawnSync('postconf', ['-c', env.POSTFIX_CONFIG_DIR, '-h', name], { encoding: 'utf8' }).stdout.trim();
    if (postconf('maillog_file') !== env.MAILLOG_FILE) problem(`maillog_file is ${postconf('maillog_file')}, the image's MAILLOG_FILE is ${env.MAILLOG_FILE}`);
    const prefixes = postconf('maillog_file_prefixes').split(/[\s,]+/);
    if (prefixes.some((p) => p.startsWith('/dev') && p !== '/dev/stdout')) problem(`maillog_file_prefixes (${prefixes.join(', ')}) lets Postfix log into /dev`);
    if (postconf('relay_transport') !== `lmtp:inet:${env.LMTP_HOST}:${env.LMTP_PORT}`) problem(`relay_transport is ${postconf('relay_transport')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.getuid?.() !== 0) notes.push('rendering skipped: render.sh needs root (chown to the postfix user)');
else if (spawnSync('postfix', ['-h']).error) notes.push('rendering skipped: postfix is not installed here (scripts/test-deps.sh installs it)');
else for (const serviceEnv of variants) render(serviceEnv);

// ---- the packages ----------------------------------------------------------------------------------
const install = final.filter((i) => i.op === 'RUN').map((i) => /apt-get install\s+([^&;|]*)/.exec(i.args)?.[1]).find(Boolean);
const release = /^VERSION_CODENAME=(\w+)/m.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1];
if (!install) problem('no `apt-get install` in the final stage');
else if (!release || !baseImage.includes(release)) notes.push(`apt-get simulation skipped: the image is ${baseImage}, this machine is ${release ?? 'not Debian'}`);
else {
  const words = install.trim().split(/\s+/);
  const options = words.filter((w) => w.startsWith('-') && w !== '-y');
  const packages = words.filter((w) => !w.startsWith('-'));
  const r = spawnSync('apt-get', ['install', '--simulate', '-qq', ...options, ...packages], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) problem(`apt-get install --simulate ${[...options, ...packages].join(' ')} fails:\n${(r.stderr || r.stdout).trim()}`);
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`${dockerfile}: image ok (healthcheck script, render.sh + postfix check ×${variants.length}, apt-get simulation)${notes.map((n) => `; ${n}`).join('')}`);
