// Checks what a schema cannot: the appliance's compose rules, on the configuration as docker-compose
// resolved it (`docker-compose config` output, one file per variable set, given as arguments).
//   - with any set of the `dev` and `imap` profiles, every dependency of a started service is started
//     too, and waits for health (a dependency on a profile-only service breaks `up` without that profile);
//   - hpfeeds frames: the collector's limit fits a message of its size limit as base64 JSON, and the
//     dev broker accepts the frames the collectors may send;
//   - every service restarts unless stopped, has a healthcheck (in the file or its image's Dockerfile)
//     and a stop_grace_period; the collector's is longer than its drain timeout;
//   - only postfix is published on every address; dev brokers on 127.0.0.1 only; the collector never;
//   - the directories the postfix image and the collector read (their ENV) are the ones mounted, and
//     on a read-only postfix, those it writes are on a tmpfs or a volume;
//   - the services holding hpfeeds connections set the keepalive sysctls (interval 5 s, 3 probes);
//   - read_only services get a tmpfs /tmp (scratch space libraries expect); bind sources exist;
//   - every ${VAR} of docker-compose.yml, scripts/test-swaks.sh and scripts/native-up.sh is documented
//     in .env.example;
//   - the collector accepts its configuration as the container would get it (image ENV, the service's
//     environment, config/collector.yml through its bind mount): `catchall-lmtp --check-config`, with
//     the brokers of .env.example as sinks, and none (spool only) without a .env;
//   - the imap-collector service, run natively the same way: without a mailbox list it exits 2 saying
//     how to write one; with one, `--check-config` accepts it with the same sinks (and without a .env,
//     with no broker at all, exits 2 saying so); its start-up wrapper runs the image's ENTRYPOINT.
// Usage: node scripts/lint/compose.mjs RESOLVED.yml...   (run from the repository root)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from 'tsx/esm/api';
import YAML from 'yaml';

const problems = [];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: compose.mjs RESOLVED.yml...');
  process.exit(2);
}

/** Compose durations: 1m30s, 60s, 500ms. */
function seconds(d) {
  if (typeof d === 'number') return d;
  let total = 0;
  for (const [, n, unit] of String(d).matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)) {
    total += Number(n) * { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[unit];
  }
  return total;
}

/** [host address or '', published port] of a resolved port entry (string or long form). */
function published(port) {
  if (typeof port === 'object') return [port.host_ip ?? '', String(port.published ?? '')];
  const parts = String(port).replace(/\/\w+$/, '').split(':');
  return parts.length === 3 ? [parts[0], parts[1]] : ['', parts.length === 2 ? parts[0] : ''];
}

const hasImageHealthcheck = (build) => {
  if (!build) return false;
  const context = typeof build === 'string' ? build : build.context;
  const file = join(context, typeof build === 'object' && build.dockerfile ? build.dockerfile : 'Dockerfile');
  return existsSync(file) && /^HEALTHCHECK\s+(?!NONE)/m.test(readFileSync(file, 'utf8'));
};

// The services holding hpfeeds connections, and the keepalive timing Node cannot set per socket.
const HPFEEDS_PEERS = ['catchall-lmtp', 'hpfeeds-broker', 'imap-collector'];
const KEEPALIVE = { 'net.ipv4.tcp_keepalive_intvl': '5', 'net.ipv4.tcp_keepalive_probes': '3' };

register();
const { lmtpSchema } = await import('../../catchall-lmtp/src/config/schema.ts');
const drainDefaultMs = lmtpSchema.parse({}).drainTimeoutMs;

for (const file of files) {
  const config = YAML.parse(readFileSync(file, 'utf8'));
  const services = config.services ?? {};
  const at = (svc, text) => problems.push(`${file}: service ${svc}: ${text}`);

  for (const profiles of [[], ['dev'], ['imap'], ['dev', 'imap']]) {
    const active = (name) => {
      const own = services[name]?.profiles ?? [];
      return own.length === 0 || own.some((p) => profiles.includes(p));
    };
    for (const [name, svc] of Object.entries(services)) {
      if (!active(name)) continue;
      for (const [dep, spec] of Object.entries(Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : svc.depends_on ?? {})) {
        if (!services[dep]) at(name, `depends on ${dep}, which does not exist`);
        else if (!active(dep)) at(name, `depends on ${dep}, which is not started with profiles [${profiles.join(', ')}]`);
        if (spec.condition !== 'service_healthy') at(name, `depends on ${dep} without condition: service_healthy`);
      }
    }
  }

  for (const [name, svc] of Object.entries(services)) {
    if (svc.restart !== 'unless-stopped') at(name, `restart is ${svc.restart ?? 'unset'}, expected unless-stopped`);
    if (svc.stop_grace_period === undefined) at(name, 'no stop_grace_period');
    if (svc.healthcheck?.disable) at(name, 'healthcheck disabled');
    else if (!svc.healthcheck?.test && !hasImageHealthcheck(svc.build)) at(name, "no healthcheck (neither here nor in its image's Dockerfile)");

    const dev = (svc.profiles ?? []).includes('dev');
    for (const port of svc.ports ?? []) {
      const [host, pub] = published(port);
      if (name === 'postfix') continue;
      if (!dev) at(name, `publishes port ${pub}: only postfix faces the network`);
      else if (host !== '127.0.0.1') at(name, `publishes port ${pub} on ${host || 'every address'}: dev brokers belong on 127.0.0.1`);
    }
    if (svc.read_only && !(svc.tmpfs ?? []).some((t) => String(t).split(':')[0] === '/tmp')) at(name, 'read_only without a tmpfs on /tmp');
    if (HPFEEDS_PEERS.includes(name)) {
      for (const [key, value] of Object.entries(KEEPALIVE)) {
        if (String(svc.sysctls?.[key]) !== value) at(name, `sysctl ${key} is ${svc.sysctls?.[key] ?? 'unset'}, expected ${value} (dead hpfeeds peers found in seconds)`);
      }
    }
    for (const volume of svc.volumes ?? []) {
      const source = typeof volume === 'object' ? (volume.type === 'bind' ? volume.source : undefined) : String(volume).split(':')[0];
      // Host paths of this repository must exist; others (/etc/letsencrypt) are the host's business.
      if (source?.startsWith(process.cwd()) && !existsSync(source)) at(name, `bind mount source ${source} does not exist`);
    }
  }

  const collector = services['catchall-lmtp'];
  const collectorConfig = collector && checkCollectorConfig(file, collector);
  if (collectorConfig) checkLimits(file, services, collectorConfig);
  const imapConfig = services['imap-collector'] && checkImapCollector(file, services['imap-collector']);
  if (imapConfig) checkLimits(file, services, imapConfig, 'imap-collector');
  checkMounts(file, services);
  if (collector) {
    const env = collector.environment ?? {};
    const drainMs = Number(env.CATCHALL_LMTP_DRAIN_TIMEOUT_MS || drainDefaultMs);
    if (seconds(collector.stop_grace_period) * 1000 <= drainMs) {
      at('catchall-lmtp', `stop_grace_period ${collector.stop_grace_period} is not longer than the collector's drain timeout (${drainMs} ms)`);
    }
  }
}

/** ENV of a Dockerfile's final stage (KEY=VALUE forms). */
function imageEnv(dockerfile) {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const env = {};
  for (const [, body] of finalStage.matchAll(/^ENV\s+(.*)$/gm)) for (const [, k, v] of body.matchAll(/(\w+)=(\S+)/g)) env[k] = v;
  return env;
}

/** The host path behind a path inside the container, through the service's bind mounts. */
function hostPath(svc, path) {
  for (const volume of svc.volumes ?? []) {
    const [source, target] = String(volume).split(':');
    if (source.startsWith('/') && path?.startsWith(`${target}/`)) return source + path.slice(target.length);
  }
  return path;
}

/** The environment a service's process gets: its image's ENV, then the service's environment. */
function containerEnv(svc) {
  return { PATH: process.env.PATH, ...imageEnv(join(svc.build.context, svc.build.dockerfile)), ...svc.environment };
}

/** The sinks --check-config printed are the brokers the environment names. */
function checkSinks(at, env, config, who) {
  const expected = [env.AMQP_URL || env.AMQP_HOST ? 'amqp' : '', env.HPFEEDS_HOST ? 'hpfeeds' : ''].filter(Boolean).join(',');
  const sinks = config.sinks.map((x) => x.type).sort().join(',');
  if (sinks !== expected) at(`${who} would publish to [${sinks}], expected [${expected}]`);
}

function checkCollectorConfig(file, svc) {
  const at = (text) => problems.push(`${file}: service catchall-lmtp: ${text}`);
  const env = containerEnv(svc);
  env.CATCHALL_CONFIG = hostPath(svc, env.CATCHALL_CONFIG);
  const r = spawnSync(process.execPath, ['catchall-lmtp/bin/catchall-lmtp.js', '--check-config'], { env, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return void at(`catchall-lmtp --check-config rejects its configuration:\n${(r.stderr || r.stdout).trim()}`);
  const config = JSON.parse(r.stdout);
  checkSinks(at, env, config, 'the collector');
  if (config.lmtp.host !== '0.0.0.0' || config.lmtp.port !== 24) at(`the collector would listen on ${config.lmtp.host}:${config.lmtp.port}, Postfix sends to 0.0.0.0:24`);
  if (!config.spool.dir && env.CATCHALL_MAILDIR !== '') at('spool mode is off although CATCHALL_MAILDIR is not set empty');
  return config;
}

/**
 * imap-collector as its container would start: the service's entrypoint (a shell wrapper that refuses a
 * missing mailbox list, then runs the image's ENTRYPOINT), with paths mapped through its bind mounts.
 */
function checkImapCollector(file, svc) {
  const at = (text) => problems.push(`${file}: service imap-collector: ${text}`);
  const dockerfile = join(svc.build.context, svc.build.dockerfile);
  const imageEntrypoint = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(dockerfile, 'utf8'))?.[1] ?? '[]');
  const [shell, flag, script, ...scriptArgs] = svc.entrypoint ?? [];
  // docker-compose config keeps $$ (compose's escape for a literal $) as it is.
  const wrapper = String(script ?? '').replaceAll('$$', '$');
  if (shell !== '/bin/sh' || flag !== '-c' || !wrapper.includes(`exec ${imageEntrypoint.join(' ')} "$@"`)) {
    return void at(`its entrypoint must be /bin/sh -c '... exec ${imageEntrypoint.join(' ')} "$@"' (the image's ENTRYPOINT), got ${JSON.stringify(svc.entrypoint)}`);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'lint-imap-'));
  try {
    const env = containerEnv(svc);
    env.IMAP_FEED_CONFIG = hostPath(svc, env.IMAP_FEED_CONFIG);
    const run = (mailboxes, args) =>
      spawnSync(shell, [flag, wrapper, ...scriptArgs, ...args], { env: { ...env, IMAP_MAILBOX_CONFIG: mailboxes }, encoding: 'utf8', timeout: 20_000 });

    const missing = run(join(tmp, 'mailboxes.yml'), svc.command ?? []);
    if (missing.status !== 2 || !/no mailbox list at .*config\/mailboxes\.example\.yml/s.test(missing.stderr)) {
      at(`without a mailbox list it should exit 2 saying how to write one; it exited ${missing.status}:\n${(missing.stderr || missing.stdout).trim()}`);
    }
    const mailboxes = join(tmp, 'mailboxes.yml');
    writeFileSync(mailboxes, '- { username: lint, password: lint, protocol: imap, host: imap.example.org }\n');
    const r = run(mailboxes, ['--check-config']);
    // Unlike catchall-lmtp it has no spool to archive into: with no broker (no .env) it must say so.
    if (!env.AMQP_URL && !env.AMQP_HOST && !env.HPFEEDS_HOST && !env.IMAP_MAILDIR) {
      if (r.status !== 2 || !/no destination configured/.test(r.stderr)) at(`with no broker configured it should exit 2 saying so; it exited ${r.status}:\n${(r.stderr || r.stdout).trim()}`);
      return undefined;
    }
    if (r.status !== 0) return void at(`imap-collector --check-config rejects its configuration:\n${(r.stderr || r.stdout).trim()}`);
    const config = JSON.parse(r.stdout);
    checkSinks(at, env, config, 'the IMAP collector');
    return config;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The paths the images read (their ENV) are the ones the compose file mounts, so neither can drift. */
function checkMounts(file, services) {
  const targets = (svc) => new Map((svc.volumes ?? []).map((v) => String(v).split(':')).map(([source, target]) => [target, source]));
  const postfix = services.postfix;
  if (postfix?.build) {
    const env = { ...imageEnv(join(postfix.build.context ?? postfix.build, postfix.build.dockerfile ?? 'Dockerfile')), ...postfix.environment };
    const mounted = targets(postfix);
    const relayDir = env.RELAY_DOMAINS_FILE?.replace(/\/[^/]+$/, '');
    for (const [name, dir] of Object.entries({ 'RELAY_DOMAINS_FILE (its directory)': relayDir, CERTS_DIR: env.CERTS_DIR, LETSENCRYPT_DIR: env.LETSENCRYPT_DIR, POSTFIX_QUEUE_DIR: env.POSTFIX_QUEUE_DIR })) {
      if (!dir || !mounted.has(dir)) problems.push(`${file}: service postfix: ${name} is ${dir ?? 'unset'} in the image, and nothing is mounted there`);
    }
    // On a read-only root, what Postfix writes must be on a tmpfs or a volume.
    if (postfix.read_only) {
      const writable = [...(postfix.tmpfs ?? []).map((t) => String(t).split(':')[0]), ...mounted.keys()];
      for (const name of ['POSTFIX_CONFIG_DIR', 'POSTFIX_DATA_DIR', 'POSTFIX_QUEUE_DIR']) {
        if (!writable.some((w) => env[name] === w || env[name]?.startsWith(`${w}/`))) {
          problems.push(`${file}: service postfix: it is read_only, but ${name} (${env[name]}) is on no tmpfs or volume`);
        }
      }
    }
    const source = relayDir && mounted.get(relayDir);
    if (source?.startsWith('/') && !existsSync(join(source, env.RELAY_DOMAINS_FILE.split('/').pop()))) {
      problems.push(`${file}: service postfix: ${source} has no ${env.RELAY_DOMAINS_FILE.split('/').pop()}`);
    }
  }
  const collector = services['catchall-lmtp'];
  const spool = collector?.environment?.CATCHALL_MAILDIR;
  if (spool && !targets(collector).has(spool)) problems.push(`${file}: service catchall-lmtp: the spool ${spool} is not on a volume`);
}

/** Limits that must fit together: what Postfix accepts, the collector takes; what it sends, the broker takes. */
function checkLimits(file, services, config, who = 'catchall-lmtp') {
  const at = (text) => problems.push(`${file}: service ${who}: ${text}`);
  if (config.lmtp) {
    const postfixLimit = Number(services.postfix?.environment?.MESSAGE_SIZE_LIMIT ?? 10_240_000);
    // Postfix adds its Received: header (a few hundred bytes) before the LMTP hand-over.
    if (postfixLimit !== 0 && config.lmtp.maxMessageSize < postfixLimit + 4096) {
      at(`the collector's size limit ${config.lmtp.maxMessageSize} leaves no room above Postfix's MESSAGE_SIZE_LIMIT ${postfixLimit} for its Received: header; such mail would be retried until it expires`);
    }
  }
  const broker = services['hpfeeds-broker'];
  const brokerFrame = Number(/--max-frame-size=(\d+)/.exec((broker?.command ?? []).join(' '))?.[1] ?? 1_048_581);
  for (const sink of config.sinks.filter((x) => x.type === 'hpfeeds')) {
    if (sink.host === 'hpfeeds-broker' && sink.maxFrameSize > brokerFrame) at(`it sends hpfeeds frames up to ${sink.maxFrameSize} bytes, the dev broker accepts ${brokerFrame}`);
    const needed = config.lmtp && jsonFrameSize(config.lmtp.maxMessageSize, config.lmtp.maxRecipients, sink);
    if (needed && sink.maxFrameSize < needed) {
      at(`its hpfeeds frame limit ${sink.maxFrameSize} (HPFEEDS_MAX_FRAME_SIZE) is below the ${needed} bytes a message of its size limit ${config.lmtp.maxMessageSize} takes as base64 JSON; such 8-bit mail would never reach ${sink.host}`);
    }
  }
}

/**
 * The largest PUBLISH frame a message of `size` bytes makes as a json payload with base64 `msg` (8-bit
 * mail): the frame header (length, opcode, ident and channel with their length bytes), the base64 text,
 * and the rest of the document: sha256 and keys, and an envelope of up to `recipients` addresses of
 * 256 bytes, plus 2 KiB for the sender, client name, HELO and the other fields.
 */
function jsonFrameSize(size, recipients, sink) {
  const channel = Math.max(...sink.channels.map((c) => Buffer.byteLength(c)));
  const header = 4 + 1 + 1 + Buffer.byteLength(sink.ident) + 1 + channel;
  return header + 4 * Math.ceil(size / 3) + 200 + recipients * (256 + 3) + 2048;
}

// Every variable the compose file reads is documented in .env.example (set, or commented out).
const composeText = readFileSync('docker-compose.yml', 'utf8').replace(/^\s*#.*$/gm, '');
const documented = new Set([...readFileSync('.env.example', 'utf8').matchAll(/(?:^|[\s#])([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
for (const [, v] of composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) {
  if (!documented.has(v)) problems.push(`docker-compose.yml uses \${${v}}, which .env.example does not document`);
}
// So are the settings of the scripts a user runs against the appliance.
for (const script of ['scripts/test-swaks.sh', 'scripts/native-up.sh']) {
  if (!existsSync(script)) continue;
  for (const [, v] of readFileSync(script, 'utf8').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) {
    if (!documented.has(v) && !/^(BASH_\w+|TMPDIR|HOME|PATH)$/.test(v)) problems.push(`${script} reads \${${v}}, which .env.example does not document`);
  }
}

if (problems.length) {
  console.error([...new Set(problems)].join('\n'));
  process.exit(1);
}
console.log(`docker-compose.yml: ok (${files.length} resolved variants, profiles: none, dev, imap, dev+imap)`);
