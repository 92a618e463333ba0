// sendEmail(): one SMTP transaction through real swaks, the way docker-mailserver's tests send mail.
// The outcome is checked here, so a test reads as "this is accepted" / "this is refused", and a
// surprise fails with swaks' whole transcript.
import { spawn } from 'node:child_process';

export interface SendEmailOptions {
  port: number;
  server?: string;
  to: string | string[];
  /** Envelope sender; '' sends the null sender <>. */
  from?: string;
  /** STARTTLS (required), TLS from the first byte (port 465), or plain. */
  tls?: 'starttls' | 'implicit' | 'none';
  /** The exact message (headers + body, CRLF line ends); default: a small message. */
  data?: Buffer | string;
  /** Stop after this step (e.g. 'RCPT' to test only the envelope). */
  quitAfter?: 'CONNECT' | 'FIRST-HELO' | 'TLS' | 'HELO' | 'MAIL' | 'RCPT';
  /** true: the server must refuse (any 4xx/5xx); a RegExp: the refusal must match it. */
  expectRejection?: boolean | RegExp;
  helo?: string;
}

export interface SendEmailResult {
  transcript: string;
  exitCode: number;
  /** The first reply swaks flagged as an error ("<** 554 5.7.1 ..."), without the marker. */
  rejection?: string;
  /** Postfix's queue id from "250 2.0.0 Ok: queued as ...". */
  queueId?: string;
}

export const DEFAULT_MESSAGE = 'Subject: e2e\r\nFrom: <sender@example.org>\r\n\r\nHello trap.\r\n';

/**
 * What swaks --no-data-fixup must be given for the server to receive exactly `message`: leading dots
 * doubled (RFC 5321 4.5.2) and the final "." (swaks adds the CRLF after it). `message` ends with CRLF.
 */
export function wireData(message: Buffer | string): Buffer {
  const bytes = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
  if (!bytes.subarray(-2).equals(Buffer.from('\r\n'))) throw new Error('the message must end with CRLF');
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = bytes.indexOf('\n'); i !== -1; start = i + 1, i = bytes.indexOf('\n', start)) {
    const line = bytes.subarray(start, i + 1);
    lines.push(line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line);
  }
  return Buffer.concat([...lines, Buffer.from('.')]);
}

export async function sendEmail(opts: SendEmailOptions): Promise<SendEmailResult> {
  const args = [
    '--server', opts.server ?? '127.0.0.1',
    '--port', String(opts.port),
    '--to', Array.isArray(opts.to) ? opts.to.join(',') : opts.to,
    '--from', opts.from === '' ? '<>' : (opts.from ?? 'sender@example.org'),
    '--helo', opts.helo ?? 'client.example.org',
    '--timeout', '20',
    '--data', '-',
    // Send our bytes as they are: no token replacement, header insertion or line-end rewriting.
    '--no-data-fixup',
    // Summarise DATA in the transcript; a failure message need not repeat a 200 kB body.
    '--suppress-data',
  ];
  if (opts.tls === 'starttls') args.push('--tls');
  if (opts.tls === 'implicit') args.push('--tls-on-connect');
  if (opts.quitAfter) args.push('--quit-after', opts.quitAfter);

  const child = spawn('swaks', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let transcript = '';
  child.stdout.on('data', (c: Buffer) => (transcript += c.toString('latin1')));
  child.stderr.on('data', (c: Buffer) => (transcript += c.toString('latin1')));
  child.stdin.on('error', () => {}); // swaks may quit (e.g. --quit-after) before reading the data
  child.stdin.end(wireData(opts.data ?? DEFAULT_MESSAGE));
  const exitCode = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => (clearTimeout(timer), resolve(code ?? -1)));
  });

  const rejection = /^<\*\* (.*)$/m.exec(transcript)?.[1];
  const queueId = /^<- {2}250 2\.0\.0 Ok: queued as (\S+)/m.exec(transcript)?.[1];
  const result: SendEmailResult = { transcript, exitCode, ...(rejection && { rejection }), ...(queueId && { queueId }) };

  const refused = exitCode !== 0;
  if (opts.expectRejection) {
    if (!refused || !rejection) throw new Error(`expected the server to refuse, but swaks succeeded:\n${transcript}`);
    if (opts.expectRejection instanceof RegExp && !opts.expectRejection.test(rejection)) {
      throw new Error(`expected a refusal matching ${opts.expectRejection}, got "${rejection}":\n${transcript}`);
    }
  } else if (refused) {
    throw new Error(`swaks failed (exit ${exitCode}):\n${transcript}`);
  }
  return result;
}
