// The receiving half of scripts/test-swaks.sh: listens on the brokers before anything is sent, then
// checks that each message swaks sent arrived, byte for byte, and prints the pass/fail table.
//
//   node scripts/test-swaks/verify.mjs WORK_DIR
//
// WORK_DIR/cases.json (written by test-swaks.sh before this starts) lists the cases:
//   [{ "name", "via", "file" (the exact bytes sent), "rcpt": [..], "expect": "deliver" | "refuse" }]
// This writes WORK_DIR/ready once both listeners are in place; test-swaks.sh then sends, writes each
// case's SMTP outcome to WORK_DIR/<name>.smtp ("<swaks exit code> <last server reply>") and finally
// WORK_DIR/sent. Settings come from the environment (TEST_SINKS, TEST_HPFEEDS_*, TEST_AMQP_*,
// TEST_TIMEOUT, RUN_ID, EXPECT_CLIENT_ADDRESS, HPFEEDS_MAX_FRAME_SIZE), resolved by test-swaks.sh.
//
// hpfeeds is read with the `hpfeeds subscribe` CLI, which prints sha256/sha256_ok per message. It runs
// with --timeout and without --count: on a live appliance other mail shares the channel, so this stops
// it once every test message is in. RabbitMQ is read with amqplib: a temporary queue bound to the
// exchange, or (TEST_AMQP_QUEUE) a durable queue, where only the test's messages are acknowledged and
// everything else is returned to the queue when the channel closes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import amqp from 'amqplib';

const work = process.argv[2];
if (!work) {
  console.error('usage: verify.mjs WORK_DIR');
  process.exit(2);
}
const env = process.env;
const cases = JSON.parse(readFileSync(join(work, 'cases.json'), 'utf8'));
const sinks = (env.TEST_SINKS ?? 'amqp hpfeeds').split(/[\s,]+/).filter(Boolean);
const runId = env.RUN_ID;
const timeoutS = Number(env.TEST_TIMEOUT ?? 60);
const marker = new RegExp(`^X-Test-Swaks: ${runId} (\\S+)\\r?$`, 'm');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Arrivals per sink: case name → [{ bytes, sha256 (as the payload states it), envelope, note }]. */
const arrived = Object.fromEntries(sinks.map((s) => [s, new Map()]));
const setupErrors = [];

/** The message inside a payload: the collector's json document, or the raw bytes (format raw). */
function unpack(payload, amqpProperties) {
  if (amqpProperties?.contentType !== 'message/rfc822' && payload[0] === 0x7b) {
    try {
      const doc = JSON.parse(payload.toString('utf8'));
      if (typeof doc.sha256 === 'string' && typeof doc.msg === 'string') {
        const bytes = Buffer.from(doc.msg, doc.encoding === 'base64' ? 'base64' : 'utf8');
        return { bytes, sha256: doc.sha256, envelope: doc.envelope };
      }
    } catch {
      // not json: raw bytes
    }
  }
  const h = amqpProperties?.headers ?? {};
  const envelope = h['x-sha256'] ? { client_address: h['x-client-address'], rcpt_to: h['x-rcpt-to'] } : undefined;
  return { bytes: payload, sha256: h['x-sha256'] ?? amqpProperties?.messageId ?? sha256(payload), envelope };
}

function record(sink, message) {
  const m = marker.exec(message.bytes.toString('latin1'));
  if (!m) return false;
  const list = arrived[sink].get(m[1]) ?? [];
  list.push(message);
  arrived[sink].set(m[1], list);
  return true;
}

// ---- listeners ------------------------------------------------------------------------------------------
let subscriber;
async function listenHpfeeds() {
  const args = ['broker-dev/bin/hpfeeds.js', 'subscribe', '--host', env.TEST_HPFEEDS_HOST, '--port', env.TEST_HPFEEDS_PORT,
    '-i', env.TEST_HPFEEDS_IDENT, '-c', env.TEST_HPFEEDS_CHANNEL, '--timeout', String(timeoutS + 30),
    '--max-frame-size', env.HPFEEDS_MAX_FRAME_SIZE ?? '16777216'];
  subscriber = spawn(process.execPath, args, { env: { ...env, HPFEEDS_SECRET: env.TEST_HPFEEDS_SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: subscriber.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    const payload = Buffer.from(m.payload, m.encoding === 'base64' ? 'base64' : 'utf8');
    const message = unpack(payload);
    message.cliSha256 = m.sha256;
    message.cliSha256Ok = m.sha256_ok;
    record('hpfeeds', message);
  });
  const stderr = [];
  await new Promise((resolve, reject) => {
    createInterface({ input: subscriber.stderr }).on('line', (line) => {
      stderr.push(line);
      if (line.startsWith('hpfeeds: subscribed')) resolve();
    });
    subscriber.on('exit', (code) => reject(new Error(`hpfeeds subscribe exited ${code}: ${stderr.join(' | ')}`)));
    setTimeout(() => reject(new Error(`hpfeeds subscribe did not subscribe within 15 s: ${stderr.join(' | ')}`)), 15_000);
  });
}

let connection;
async function listenAmqp() {
  connection = await amqp.connect(env.TEST_AMQP_URL, { timeout: 10_000 });
  connection.on('error', () => {});
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  let queue = env.TEST_AMQP_QUEUE;
  if (queue) {
    await channel.checkQueue(queue);
  } else {
    ({ queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true }));
    await channel.bindQueue(queue, env.TEST_AMQP_EXCHANGE, env.TEST_AMQP_ROUTING_KEY);
  }
  await channel.consume(queue, (msg) => {
    if (!msg) return;
    let ours = false;
    try {
      ours = record('amqp', unpack(msg.content, msg.properties));
    } catch {
      // not a collector payload: not ours
    }
    if (ours || !env.TEST_AMQP_QUEUE) channel.ack(msg);
  });
}

// ---- checks ---------------------------------------------------------------------------------------------
const expectClient = (env.EXPECT_CLIENT_ADDRESS ?? '').replace(/^ipv6:/i, '').toLowerCase();

/** Postfix prepends its Received: header and nothing else; the rest must be the sent bytes. */
function exactBytes(arrivedBytes, sent) {
  if (arrivedBytes.length < sent.length || !arrivedBytes.subarray(arrivedBytes.length - sent.length).equals(sent)) return false;
  const prefix = arrivedBytes.subarray(0, arrivedBytes.length - sent.length).toString('latin1');
  return /^(Received:[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*)+$/.test(prefix);
}

/** [swaks exit code, last server reply] of a case, once test-swaks.sh has sent it. */
function smtpOutcome(c) {
  const file = join(work, `${c.name}.smtp`);
  const [code, ...reply] = existsSync(file) ? readFileSync(file, 'utf8').trim().split(' ') : ['-', 'not', 'sent'];
  return [code, reply];
}

/** The client address in Postfix's Received: header (the first one): "from HELO (NAME [ADDRESS])". */
function receivedClient(bytes) {
  const m = /^Received: from \S+ \((?:\S+ )?\[(?:IPv6:)?([^\]]+)\]\)/.exec(bytes.subarray(0, 2000).toString('latin1'));
  return m?.[1].toLowerCase();
}

function check(c) {
  const [code, reply] = smtpOutcome(c);
  const row = { case: c.name, via: c.via, smtp: reply.join(' ').slice(0, 40), cells: {}, problems: [], warnings: [] };
  if (c.expect === 'refuse') {
    const refused = /^554 5\.7\.1\b/.test(reply.join(' '));
    if (!refused) row.problems.push(`expected 554 5.7.1, got "${reply.join(' ')}"`);
    for (const s of sinks) {
      const n = arrived[s].get(c.name)?.length ?? 0;
      row.cells[s] = n ? `${n} arrived` : 'none (ok)';
      if (n) row.problems.push(`${s}: a refused message arrived`);
    }
    return row;
  }
  if (code !== '0') row.problems.push(`swaks exit ${code}: ${reply.join(' ')}`);
  const sent = readFileSync(c.file);
  const digests = new Set();
  for (const s of sinks) {
    const got = arrived[s].get(c.name) ?? [];
    if (got.length === 0) {
      row.cells[s] = 'MISSING';
      row.problems.push(`${s}: not received`);
      continue;
    }
    const m = got[0];
    const actual = sha256(m.bytes);
    digests.add(actual);
    const notes = [];
    if (m.sha256 !== actual) row.problems.push(`${s}: payload sha256 ${m.sha256} != sha256 of its bytes ${actual}`);
    if (s === 'hpfeeds' && (m.cliSha256 !== actual || m.cliSha256Ok === false)) row.problems.push(`hpfeeds: CLI sha256 ${m.cliSha256} (sha256_ok ${m.cliSha256Ok})`);
    if (!exactBytes(m.bytes, sent)) {
      writeFileSync(join(work, `${c.name}.${s}.eml`), m.bytes);
      row.problems.push(`${s}: bytes differ from what was sent (beyond Postfix's Received: header): compare ${c.name}.${s}.eml with ${c.name}.eml`);
    }
    else notes.push('bytes=sent');
    if (m.envelope) {
      const client = String(m.envelope.client_address ?? '').replace(/^ipv6:/i, '').toLowerCase();
      if (client !== expectClient) row.problems.push(`${s}: client_address ${client || '(none)'}, expected ${expectClient}`);
      else notes.push(`client ${client}`);
      const rcpt = [...(m.envelope.rcpt_to ?? [])].sort().join(',');
      if (rcpt !== [...c.rcpt].sort().join(',')) row.problems.push(`${s}: rcpt_to ${rcpt}, expected ${c.rcpt.join(',')}`);
      else if (c.rcpt.length > 1) notes.push(`${c.rcpt.length} rcpt`);
    } else {
      // A raw payload over hpfeeds carries no envelope: the only record of the client is the Received:
      // header Postfix put first. Checked there, and said so, since the collector's own record is missing.
      const client = receivedClient(m.bytes);
      if (client !== expectClient) row.problems.push(`${s}: raw payload without an envelope, and Postfix's Received: header names client ${client ?? '(none)'}, expected ${expectClient}`);
      else {
        notes.push(`client ${client} (Received:)`);
        row.warnings.push(`${s}: the raw payload carries no envelope: the client address was checked in Postfix's Received: header, the collector recorded none`);
      }
    }
    if (got.length > 1) notes.push(`${got.length} copies`);
    row.cells[s] = `${actual.slice(0, 12)} ${notes.join(', ')}`;
  }
  if (digests.size > 1) row.problems.push(`the sinks received different bytes (${[...digests].map((d) => d.slice(0, 12)).join(' vs ')})`);
  row.sha = `${sha256(sent).slice(0, 12)}`;
  return row;
}

function table(rows) {
  const header = ['case', 'via', 'smtp reply', 'sent sha256', ...sinks, 'result'];
  const lines = rows.map((r) => [r.case, r.via, r.smtp, r.sha ?? '-', ...sinks.map((s) => r.cells[s] ?? '-'), r.problems.length ? 'FAIL' : r.warnings.length ? 'WARN' : 'pass']);
  const width = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols) => cols.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd();
  console.log(fmt(header));
  console.log(width.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
  console.log(`sha256: "sent" of the bytes swaks sent; per broker, of the bytes that arrived (Postfix's Received: header, then`);
  console.log('the sent bytes), which must equal the payload\'s sha256; bytes=sent: identical after that header.');
  for (const r of rows) for (const w of r.warnings) console.log(`WARN ${r.case}: ${w}`);
  for (const r of rows) for (const p of r.problems) console.log(`FAIL ${r.case}: ${p}`);
}

// ---- run ------------------------------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let status = 0;
try {
  const listeners = [];
  if (sinks.includes('hpfeeds')) listeners.push(listenHpfeeds().catch((e) => setupErrors.push(`hpfeeds ${env.TEST_HPFEEDS_HOST}:${env.TEST_HPFEEDS_PORT}: ${e.message}`)));
  if (sinks.includes('amqp')) listeners.push(listenAmqp().catch((e) => setupErrors.push(`amqp ${env.TEST_AMQP_URL.replace(/:[^:@/]*@/, ':***@')}: ${e.message}`)));
  await Promise.all(listeners);
  // Renamed into place, so test-swaks.sh never reads it half-written.
  writeFileSync(join(work, 'ready.tmp'), setupErrors.join('\n'));
  renameSync(join(work, 'ready.tmp'), join(work, 'ready'));
  if (setupErrors.length) throw new Error(`cannot listen on the brokers:\n  ${setupErrors.join('\n  ')}`);

  const deadline = Date.now() + timeoutS * 1000;
  while (!existsSync(join(work, 'sent')) && Date.now() < deadline) await sleep(100);
  // Wait for every accepted message on every sink; a refused one is given a moment to (wrongly) show up.
  const pending = () =>
    cases.some((c) => c.expect === 'deliver' && smtpOutcome(c)[0] === '0' && sinks.some((s) => !arrived[s].has(c.name)));
  while (pending() && Date.now() < deadline) await sleep(100);
  await sleep(500);

  const rows = cases.map(check);
  table(rows);
  const failed = rows.filter((r) => r.problems.length).length;
  const warned = rows.filter((r) => !r.problems.length && r.warnings.length).length;
  const warnings = warned ? `, ${warned} with warnings (WARN above)` : '';
  console.log(failed ? `test-swaks: FAILED (${failed} of ${rows.length} cases)` : `test-swaks: all ${rows.length} cases passed${warnings}`);
  status = failed ? 1 : 0;
} catch (err) {
  console.error(`test-swaks: ${err.message}`);
  status = 1;
} finally {
  subscriber?.kill('SIGTERM');
  await connection?.close().catch(() => {});
}
process.exit(status);
