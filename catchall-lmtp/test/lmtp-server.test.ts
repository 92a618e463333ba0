// The LMTP server through real clients (swaks, smtp-source, a raw socket), delivering in direct mode
// to in-process recording sinks. What is checked is what Postfix relies on: per-recipient replies,
// exact bytes and sha256, and never a 5xx for a message.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LmtpClient, asReceived } from './helpers/lmtp-client.js';
import { startServer, type TestServer } from './helpers/server.js';
import { RecordingSink } from './helpers/sinks.js';
import { eventually } from './helpers/wait.js';
import { SMTP_SOURCE, run, serverReplies, swaks } from './helpers/tools.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** swaks turns LF into CRLF and ends DATA with "\r\n.\r\n" after the file, adding one empty line. */
const viaSwaks = (file: string) => Buffer.from(`${file.replace(/\r?\n/g, '\r\n')}\r\n`);

async function messageCount(t: TestServer, result: string): Promise<number> {
  const metric = await t.metrics.messages.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('LMTP server, direct mode', () => {
  let sink: RecordingSink;
  let t: TestServer;
  let tmp: string;

  before(async () => {
    sink = new RecordingSink();
    t = await startServer({ sinks: [sink], maxMessageSize: 10_240_000, maxRecipients: 5 });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'lmtp-test-'));
  });
  after(async () => {
    await t.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  /** The recorded message whose bytes hash to the given value (each test sends distinct bytes). */
  const recorded = (hash: string) => sink.messages.find((m) => m.sha256 === hash);

  it('advertises PIPELINING, 8BITMIME, SMTPUTF8 and ENHANCEDSTATUSCODES in LHLO, and no SIZE', async () => {
    const { client, greeting, lhloReply } = await LmtpClient.connect({ port: t.port });
    assert.equal(greeting.code, 220);
    assert.match(greeting.text, /LMTP/);
    assert.equal(lhloReply?.code, 250);
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'XFORWARD NAME ADDR']) {
      assert.ok(lhloReply!.lines.some((l) => l.slice(4).startsWith(ext)), `${ext} in ${lhloReply!.text}`);
    }
    assert.ok(!lhloReply!.lines.some((l) => l.slice(4).startsWith('SIZE')), 'SIZE would let a client pre-reject with 5xx');
    assert.equal((await client.command('HELO x')).code, 500, 'HELO is not LMTP');
    await client.quit();
  });

  it('gives one reply per recipient after DATA, pipelined (swaks --pipeline)', async () => {
    const body = path.join(tmp, 'multi.eml');
    await writeFile(body, 'Subject: multi\r\nX-Test: per-recipient\r\n\r\nhello three\r\n');
    const r = await swaks({ port: t.port }, ['--pipeline', '--to', 'a@trap.test,b@trap.test,c@other.test', '--data', body]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const replies = serverReplies(r.stdout);
    const afterData = replies.slice(replies.findIndex((l) => l.startsWith('354')) + 1).filter((l) => !l.startsWith('221'));
    assert.equal(afterData.length, 3, replies.join('\n'));
    const sent = viaSwaks('Subject: multi\r\nX-Test: per-recipient\r\n\r\nhello three\r\n');
    for (const line of afterData) assert.equal(line, `250 2.6.0 OK ${sha256(sent)}`);
    const m = recorded(sha256(sent));
    assert.ok(m, 'delivered to the sink');
    assert.deepEqual(m.envelope.rcptTo, ['a@trap.test', 'b@trap.test', 'c@other.test']);
    assert.equal(m.envelope.mailFrom, 'sender@example.net');
    assert.equal(m.envelope.size, sent.length);
  });

  it('answers a pipelined XFORWARD, MAIL, RCPT and DATA in one segment, as Postfix sends them', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const firstRead = new Promise<string>((resolve) => client.socket.once('data', (chunk: string) => resolve(chunk)));
    client.write('XFORWARD NAME=mx.example ADDR=192.0.2.7\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<a@trap.test>\r\nRCPT TO:<b@trap.test>\r\nDATA\r\n');
    const codes = (await firstRead).split('\r\n').filter(Boolean).map((l) => l.slice(0, 3));
    assert.deepEqual(codes, ['250', '250', '250', '250', '354']);
    await client.readReplies(5);
    client.write('Subject: one segment\r\n\r\nbody\r\n.\r\n');
    assert.deepEqual((await client.readReplies(2)).map((r) => r.code), [250, 250]);
    await client.quit();
  });

  it('unstuffs dots exactly (swaks corpus and raw client)', async () => {
    const corpus = ['.', '..', '...', '.leading dot', '..two dots', ' .space first', 'a.b', '.\t', '. ', 'end'].join('\n') + '\n';
    const body = path.join(tmp, 'dots.eml');
    await writeFile(body, `Subject: dots\n\n${corpus}`);
    const r = await swaks({ port: t.port }, ['--to', 'dots@trap.test', '--data', body]);
    assert.equal(r.code, 0, r.stdout);
    const expected = viaSwaks(`Subject: dots\n\n${corpus}`);
    assert.ok(recorded(sha256(expected)), `swaks corpus arrived byte-exact: ${serverReplies(r.stdout).join(' | ')}`);

    const { client } = await LmtpClient.connect({ port: t.port });
    const raw = Buffer.from('.\r\n..\r\n.\r\n\r\n.x\r\nlast line without dot\r\n.');
    const res = await client.sendMessage('s@x.test', ['r@trap.test'], raw);
    assert.equal(res.perRecipient[0]?.code, 250);
    assert.ok(recorded(sha256(asReceived(raw))), 'raw corpus arrived byte-exact');
    await client.quit();
  });

  it('keeps 8-bit Latin-1, NUL bytes, bare LF, bare CR and a 200 kB line unchanged', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const cases: Record<string, Buffer> = {
      latin1: Buffer.from('Subject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nna\xefve \xfcber \xff\r\n', 'latin1'),
      nul: Buffer.concat([Buffer.from('Subject: nul\r\n\r\nbefore'), Buffer.from([0, 0, 1, 2]), Buffer.from('after\r\n')]),
      bareLf: Buffer.from('Subject: bare lf\n\nline one\nline two\n.dot after bare lf\r\n'),
      bareCr: Buffer.from('Subject: bare cr\r\n\r\nthis\rthat\r\n'),
      longLine: Buffer.from(`Subject: long\r\n\r\n${'y'.repeat(200_000)}\r\n`),
      brokenMime: Buffer.from('Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n'),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const res = await client.sendMessage('s@x.test', [`${name}@trap.test`], bytes);
      assert.equal(res.perRecipient[0]?.code, 250, `${name}: ${res.perRecipient[0]?.text}`);
      const m = recorded(sha256(asReceived(bytes)));
      assert.ok(m, `${name} arrived byte-exact`);
      assert.ok(m.bytes.equals(asReceived(bytes)));
    }
    await client.quit();
  });

  it('takes Latin-1, NUL bytes and a 9 MB message from swaks --data @file byte-exact', async () => {
    const files: Record<string, Buffer> = {
      latin1: Buffer.from('Subject: caf\xe9 via swaks\nContent-Type: text/plain; charset=iso-8859-1\n\nna\xefve \xfcber \xff\xe4\n', 'latin1'),
      nul: Buffer.concat([Buffer.from('Subject: nul via swaks\n\nbefore'), Buffer.from([0, 0, 1, 2, 0x7f]), Buffer.from('after\n')]),
      big: Buffer.concat([Buffer.from('Subject: 9 MB via swaks\n\n'), Buffer.alloc(9 * 1024 * 1024, Buffer.from(`${'0123456789abcdef'.repeat(6)}\xe9\n`, 'latin1'))]),
    };
    for (const [name, bytes] of Object.entries(files)) {
      const file = path.join(tmp, `${name}.eml`);
      await writeFile(file, bytes);
      const r = await swaks({ port: t.port }, ['--to', `${name}@trap.test`, '--data', `@${file}`, '--silent', '1']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // swaks sends LF as CRLF and adds a line end before the terminator; nothing else may change.
      const sent = Buffer.from(`${bytes.toString('latin1').replace(/\r?\n/g, '\r\n')}\r\n`, 'latin1');
      const m = recorded(sha256(sent));
      assert.ok(m, `${name} arrived byte-exact`);
      assert.equal(m.envelope.size, sent.length);
    }
  });

  it('accepts the smallest messages: empty and one byte (plus the CRLF the terminator needs)', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const empty = await client.sendMessage('s@x.test', ['empty@trap.test'], Buffer.alloc(0));
    assert.equal(empty.perRecipient[0]?.code, 250);
    assert.ok(recorded(sha256(Buffer.alloc(0))), 'empty message recorded with the sha256 of nothing');
    const one = await client.sendMessage('s@x.test', ['one@trap.test'], Buffer.from('x'));
    assert.equal(one.perRecipient[0]?.code, 250);
    assert.equal(recorded(sha256(Buffer.from('x\r\n')))?.bytes.length, 3);
    await client.quit();
  });

  it('takes a 9 MB message byte-exact', async () => {
    const line = Buffer.from(`${'0123456789abcdef'.repeat(6)}\xe9\r\n`, 'latin1');
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(9 * 1024 * 1024 - 200, line)]);
    const { client } = await LmtpClient.connect({ port: t.port });
    const res = await client.sendMessage('s@x.test', ['big@trap.test'], big);
    assert.equal(res.perRecipient[0]?.code, 250, res.perRecipient[0]?.text);
    const m = recorded(sha256(asReceived(big)));
    assert.ok(m, '9 MB message arrived byte-exact');
    assert.equal(m.envelope.size, asReceived(big).length);
    await client.quit();
  });

  it('accepts SMTPUTF8 envelopes', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    client.write(Buffer.from('MAIL FROM:<jörg@exämple.test> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<почта@trap.test>\r\nDATA\r\n'));
    const [mail, rcpt, data] = await client.readReplies(3);
    assert.equal(mail?.code, 250);
    assert.equal(rcpt?.code, 250);
    assert.equal(data?.code, 354);
    const bytes = Buffer.from('Subject: =?utf-8?q?utf8?=\r\n\r\nпривет\r\n');
    client.write(Buffer.concat([bytes, Buffer.from('.\r\n')]));
    assert.equal((await client.readReply()).code, 250);
    const m = recorded(sha256(bytes));
    assert.deepEqual(m?.envelope.rcptTo, ['почта@trap.test']);
    assert.equal(m?.envelope.mailFrom, 'jörg@exämple.test');
    await client.quit();
  });

  it('takes every envelope address Postfix may hand over, verbatim (never a 501 that would bounce trap mail)', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const odd = [
      ['bounce@spammer.example.', 'victim@trap.test.'], // trailing dots
      ['"quoted@local"@spammer.example', '"a b"@trap.test'], // quoted local parts
      ['user.@spammer.example', '..x@trap.test'], // dots at the edges
      ['x@[300.1.2.3]', 'y@xn--bcher-kva.trap.test'], // a bogus IP literal, punycode kept as sent
      ['', 'postmaster'], // the null sender; the domainless postmaster
    ];
    for (const [i, [from, to]] of odd.entries()) {
      const body = Buffer.from(`Subject: odd address ${i}\r\n\r\nx\r\n`);
      const res = await client.sendMessage(from!, [to!, '@relay.example:routed@trap.test'], body);
      assert.deepEqual(res.envelope.map((r) => r.code), [250, 250, 250], `${from} → ${to}: ${res.envelope.map((r) => r.text).join(' | ')}`);
      assert.deepEqual(res.perRecipient.map((r) => r.code), [250, 250]);
      const env = recorded(sha256(body))?.envelope;
      assert.equal(env?.mailFrom, from);
      assert.deepEqual(env?.rcptTo, [to, 'routed@trap.test']);
    }
    // parameters are still checked, and an empty recipient or control characters are still refused
    client.write('MAIL FROM:<a@b.example> BODY=9BIT\r\nMAIL FROM:<a@b.example> SIZE=12\r\nRCPT TO:<>\r\nRCPT TO:<x\x01y@trap.test>\r\nRSET\r\n');
    const [badBody, ok, emptyRcpt, control] = await client.readReplies(4);
    assert.equal(badBody?.code, 501);
    assert.equal(ok?.code, 250);
    assert.equal(emptyRcpt?.code, 501);
    assert.equal(control?.code, 501);
    await client.readReply();
    await client.quit();
  });

  it('records what Postfix passes by XFORWARD, and nothing when it does not', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    assert.equal((await client.command('XFORWARD NAME=bot.example.org ADDR=192.0.2.77 PROTO=ESMTP HELO=Bot-Helo')).code, 250);
    const withXf = Buffer.from('Subject: xforward\r\n\r\nfrom a bot\r\n');
    assert.equal((await client.sendMessage('s@x.test', ['xf@trap.test'], withXf)).perRecipient[0]?.code, 250);
    const env = recorded(sha256(withXf))?.envelope;
    assert.equal(env?.clientAddress, '192.0.2.77');
    assert.equal(env?.clientName, 'bot.example.org');
    assert.equal(env?.helo, 'Bot-Helo', 'the HELO as the client spelled it');
    assert.equal(env?.protocol, 'ESMTP');
    await client.quit();

    const { client: plain } = await LmtpClient.connect({ port: t.port });
    const without = Buffer.from('Subject: no xforward\r\n\r\nplain\r\n');
    await plain.sendMessage('s@x.test', ['plain@trap.test'], without);
    const env2 = recorded(sha256(without))?.envelope;
    assert.ok(env2);
    assert.equal(env2.clientAddress, undefined, 'never guessed');
    assert.equal(env2.helo, undefined);
    await plain.quit();
  });

  it('keeps ADDR, PROTO and HELO when NAME is odd, and every XFORWARD value as sent (xtext-decoded)', async () => {
    const cases = [
      // smtp-server alone refuses a NAME that is not a valid host name with 501, losing the other values.
      { command: 'XFORWARD NAME=Bad_Host.example ADDR=198.51.100.7 PROTO=SMTP HELO=[UNAVAILABLE]', name: 'Bad_Host.example', addr: '198.51.100.7', helo: undefined, proto: 'SMTP' },
      { command: 'XFORWARD NAME=[TEMPUNAVAIL] ADDR=IPv6:2001:DB8:0:0:0:0:0:1 HELO=WIN-7K3+2Bx+5Fy', name: undefined, addr: '2001:db8::1', helo: 'WIN-7K3+x_y' },
      { command: 'XFORWARD NAME=[UNAVAILABLE] ADDR=203.0.113.9 HELO=we+20said+01hi', name: undefined, addr: '203.0.113.9', helo: 'we said\x01hi' },
      // Postfix splits long XFORWARD data over several commands; HELO=[UNAVAILABLE] must not cost the LHLO (503 on MAIL).
      { command: 'XFORWARD NAME=a.example ADDR=192.0.2.1\r\nXFORWARD PROTO=ESMTP HELO=[UNAVAILABLE]\r\nXFORWARD HELO=Late_Helo', name: 'a.example', addr: '192.0.2.1', helo: 'Late_Helo', proto: 'ESMTP' },
    ];
    for (const [i, c] of cases.entries()) {
      const { client } = await LmtpClient.connect({ port: t.port });
      for (const command of c.command.split('\r\n')) {
        const reply = await client.command(command);
        assert.equal(reply.code, 250, `${command}: ${reply.text}`);
      }
      const body = Buffer.from(`Subject: odd xforward ${i}\r\n\r\nx\r\n`);
      assert.equal((await client.sendMessage('s@x.test', ['xf@trap.test'], body)).perRecipient[0]?.code, 250);
      const env = recorded(sha256(body))?.envelope;
      assert.equal(env?.clientAddress, c.addr, c.command);
      assert.equal(env?.clientName, c.name, c.command);
      assert.equal(env?.helo, c.helo, c.command);
      assert.equal(env?.protocol, 'proto' in c ? c.proto : undefined, c.command);
      await client.quit();
    }
  });

  it('answers recipients over the limit with 452 4.5.3 and replies only for the accepted ones', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const to = ['1@t.test', '2@t.test', '3@t.test', '4@t.test', '5@t.test', '6@t.test', '7@t.test'];
    const res = await client.sendMessage('s@x.test', to, Buffer.from('Subject: many\r\n\r\nx\r\n'));
    assert.deepEqual(res.envelope.map((r) => r.code), [250, 250, 250, 250, 250, 250, 452, 452]);
    assert.match(res.envelope[6]!.lines[0]!, /^452 4\.5\.3 /);
    assert.equal(res.perRecipient.length, 5);
    assert.ok(res.perRecipient.every((r) => r.code === 250));
    await client.quit();
  });

  it('survives garbage commands and still delivers on the same and on new connections', async () => {
    const { client } = await LmtpClient.connect({ port: t.port });
    const junk = ['FOO BAR', 'RCPT TO:<nobody@x>', 'DATA', 'MAIL FROM:<<<>', '\x00\x01\x02\xff\xfe', 'GET / HTTP/1.0'];
    for (const line of junk.slice(0, 5)) {
      const reply = await client.command(line);
      assert.ok(reply.code >= 500 && reply.code < 600, `${JSON.stringify(line)} → ${reply.code}`);
    }
    const ok = Buffer.from('Subject: after garbage\r\n\r\nstill fine\r\n');
    assert.equal((await client.sendMessage('s@x.test', ['g@trap.test'], ok)).perRecipient[0]?.code, 250);
    await client.quit();

    const { client: web } = await LmtpClient.connect({ port: t.port }, false);
    assert.equal((await web.command('GET / HTTP/1.0')).code, 421);
    await web.closed;

    const { client: longCmd } = await LmtpClient.connect({ port: t.port });
    longCmd.write(`MAIL FROM:<${'a'.repeat(100_000)}@x>\r\n`);
    await longCmd.readReply().catch(() => undefined); // an error reply or a close: either is fine
    await longCmd.quit();

    const { client: fresh } = await LmtpClient.connect({ port: t.port });
    assert.equal((await fresh.command('NOOP')).code, 250);
    await fresh.quit();
  });

  it('drops a message whose client disconnects mid-DATA, and keeps serving', async () => {
    const before = sink.messages.length;
    const aborted = await messageCount(t, 'aborted');
    const { client } = await LmtpClient.connect({ port: t.port });
    client.write('MAIL FROM:<s@x.test>\r\nRCPT TO:<cut@trap.test>\r\nDATA\r\n');
    await client.readReplies(3);
    client.write(`Subject: cut\r\n\r\n${'partial '.repeat(10_000)}`);
    await new Promise((r) => setTimeout(r, 50));
    client.socket.destroy();
    await client.closed;
    await eventually(async () => (await messageCount(t, 'aborted')) === aborted + 1, 'the abort counted');
    assert.equal(sink.messages.length, before, 'nothing half-received is delivered');
    const { client: next } = await LmtpClient.connect({ port: t.port });
    assert.equal((await next.sendMessage('s@x.test', ['next@trap.test'], Buffer.from('after a cut\r\n'))).perRecipient[0]?.code, 250);
    await next.quit();
  });

  it('delivers every message under concurrency from Postfix smtp-source -L', async () => {
    const before = sink.messages.length;
    const r = await run(SMTP_SOURCE, ['-L', '-s', '10', '-m', '200', '-r', '3', '-l', '4096', '-f', 'src@x.test', '-t', 'load@trap.test', `127.0.0.1:${t.port}`]);
    assert.equal(r.code, 0, r.stderr);
    const got = sink.messages.slice(before);
    assert.equal(got.length, 200);
    assert.ok(got.every((m) => m.envelope.rcptTo.length === 3 && m.envelope.size >= 4096));
    // the same again over reused connections (-d), as Postfix's LMTP connection cache does
    const r2 = await run(SMTP_SOURCE, ['-L', '-d', '-s', '5', '-m', '100', '-l', '1000', '-f', 'src@x.test', '-t', 'load@trap.test', `127.0.0.1:${t.port}`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(sink.messages.length, before + 300);
  });
});

describe('LMTP server, limits and failures', () => {
  it('answers an oversize message with 452 for every recipient (never 5xx) and keeps the session usable', async () => {
    const sink = new RecordingSink();
    const t = await startServer({ sinks: [sink], maxMessageSize: 1000 });
    try {
      const { client } = await LmtpClient.connect({ port: t.port });
      const res = await client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], Buffer.from(`Subject: big\r\n\r\n${'z'.repeat(5000)}\r\n`));
      assert.equal(res.perRecipient.length, 2);
      for (const r of res.perRecipient) {
        assert.equal(r.code, 452);
        assert.match(r.lines[0]!, /^452 4\.\d\.\d .*exceeds the size limit of 1000 bytes/);
      }
      assert.equal(sink.messages.length, 0);
      const exact = Buffer.alloc(1000, 'k');
      const ok = await client.sendMessage('s@x.test', ['a@trap.test'], Buffer.concat([exact.subarray(2), Buffer.from('\r\n')]));
      assert.equal(ok.perRecipient[0]?.code, 250, 'a message of exactly the limit is accepted');
      await client.quit();
      const r = await swaks({ port: t.port }, ['--to', 'big@trap.test', '--body', 'x'.repeat(3000)]);
      assert.ok(serverReplies(r.stdout).some((l) => l.startsWith('452 ')), r.stdout);
      assert.ok(!serverReplies(r.stdout).some((l) => l.startsWith('5')), 'no 5xx anywhere');
    } finally {
      await t.stop();
    }
  });

  it('answers 451 per recipient naming the sink that failed, and 250 once it works again', async () => {
    const good = new RecordingSink('amqp:test');
    const bad = new RecordingSink('hpfeeds:test');
    bad.failWith = 'not connected to 127.0.0.1:1';
    const t = await startServer({ sinks: [good, bad] });
    try {
      const { client } = await LmtpClient.connect({ port: t.port });
      const msg = Buffer.from('Subject: fail\r\n\r\nbody\r\n');
      const res = await client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test', 'c@trap.test'], msg);
      assert.equal(res.perRecipient.length, 3);
      for (const r of res.perRecipient) {
        assert.equal(r.code, 451);
        assert.match(r.lines[0]!, /^451 4\.\d\.\d Not delivered to hpfeeds:test: not connected to 127\.0\.0\.1:1/);
      }
      bad.failWith = undefined;
      const retry = await client.sendMessage('s@x.test', ['a@trap.test'], msg);
      assert.equal(retry.perRecipient[0]?.code, 250);
      assert.equal(bad.messages.length, 1);
      await client.quit();
    } finally {
      await t.stop();
    }
  });

  it('enforces the connection limit (421) and the idle timeout (421, then close)', async () => {
    const t = await startServer({ sinks: [new RecordingSink()], maxConnections: 1, idleTimeoutMs: 300 });
    try {
      const { client: first } = await LmtpClient.connect({ port: t.port });
      const { client: second, greeting } = await LmtpClient.connect({ port: t.port }, false);
      assert.equal(greeting.code, 421);
      assert.match(greeting.text, /Too many connected clients/);
      await second.closed;
      const idle = await first.readReply();
      assert.equal(idle.code, 421, 'the silent client is told why');
      await first.closed;
    } finally {
      await t.stop();
    }
  });

  it('ends a DATA transfer that trickles past dataTimeoutMs with 421 and a close; a slow delivery after the dot is not cut', async () => {
    const sink = new RecordingSink();
    const t = await startServer({ sinks: [sink], idleTimeoutMs: 10_000, dataTimeoutMs: 500 });
    try {
      const { client } = await LmtpClient.connect({ port: t.port });
      client.write('MAIL FROM:<s@x.test>\r\nRCPT TO:<a@trap.test>\r\nRCPT TO:<b@trap.test>\r\nDATA\r\n');
      assert.deepEqual((await client.readReplies(4)).map((r) => r.code), [250, 250, 250, 354]);
      // One byte every 50 ms keeps the idle timeout from ever firing.
      const trickle = setInterval(() => client.write('x'), 50);
      try {
        const reply = await client.readReply(10_000);
        assert.equal(reply.code, 421);
        assert.match(reply.text, /DATA not completed within 500 ms, closing connection/);
        await client.closed;
      } finally {
        clearInterval(trickle);
      }
      await eventually(async () => (await messageCount(t, 'aborted')) === 1, 'counted as not received');
      assert.equal(sink.messages.length, 0);

      // Holding the delivery well past the deadline: the message was in before it, so it gets its 250s.
      sink.hold();
      const { client: patient } = await LmtpClient.connect({ port: t.port });
      const sending = patient.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], Buffer.from('Subject: in time\r\n\r\nx\r\n'));
      await eventually(() => sink.pending === 1, 'the delivery in progress');
      await new Promise((r) => setTimeout(r, 800));
      sink.release();
      assert.deepEqual((await sending).perRecipient.map((r) => r.code), [250, 250]);
      await patient.quit();
    } finally {
      await t.stop();
    }
  });

  it('listens on a unix socket', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lmtp-sock-'));
    const sink = new RecordingSink();
    const t = await startServer({ sinks: [sink], socket: path.join(dir, 'lmtp.sock') });
    try {
      const r = await swaks({ socket: path.join(dir, 'lmtp.sock') }, ['--to', 'sock@trap.test']);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(sink.messages.length, 1);
    } finally {
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on stop, finishes the message in flight with 250 and refuses new connections', async () => {
    const sink = new RecordingSink();
    sink.hold();
    const t = await startServer({ sinks: [sink] });
    const { client } = await LmtpClient.connect({ port: t.port });
    const sending = client.sendMessage('s@x.test', ['a@trap.test', 'b@trap.test'], Buffer.from('in flight\r\n'));
    while (sink.pending === 0) await new Promise((r) => setTimeout(r, 5));
    const stopping = t.stop();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(LmtpClient.connect({ port: t.port }), 'no new connections while draining');
    sink.release();
    const res = await sending;
    assert.deepEqual(res.perRecipient.map((r) => r.code), [250, 250]);
    await stopping;
    assert.equal(sink.messages.length, 1);
  });
});
