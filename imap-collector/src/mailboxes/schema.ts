// The mailbox config: the seed's YAML list of trap accounts, plus TLS, certificate checking, the
// mailbox to read, and ways to keep passwords out of the file. One zod schema holds every default.
import { z } from 'zod';
// The feed config's converters: a `${VAR}` value arrives as a string, e.g. `port: ${TRAP_PORT}`.
import { bool, port as portNumber } from 'catchall-lmtp/config/schema';

export type TlsMode = 'implicit' | 'starttls' | 'none';

const IMPLICIT_TLS_PORT = 993;
const PLAIN_PORT = 143;

const entrySchema = z
  .object({
    username: z.string().min(1),
    // YAML 1.1 reads 123, 1e3, yes and no as numbers and booleans.
    password: z.string({ error: 'expected a string (quote a password that YAML reads as a number or boolean, e.g. 123 or no)' }).min(1).optional(),
    /** Name of an environment variable holding the password. */
    password_env: z.string().min(1).optional(),
    /** Path of a file holding the password (a trailing newline is ignored), e.g. a Docker secret. */
    password_file: z.string().min(1).optional(),
    protocol: z.literal('imap', { error: 'only "imap" is supported' }).default('imap'),
    host: z.string().min(1),
    port: portNumber.refine((p) => p >= 1, { error: 'expected a port from 1 to 65535' }).optional(),
    /** implicit: TLS from the first byte (993); starttls: upgrade a plain connection (143); none: cleartext. */
    tls: z.enum(['implicit', 'starttls', 'none']).optional(),
    /** The seed never checked certificates; we do unless told otherwise (self-signed trap hosts). */
    verify_cert: bool().default(true),
    mailbox: z.string().min(1).default('INBOX'),
  })
  .strict()
  .superRefine((entry, ctx) => {
    const sources = (['password', 'password_env', 'password_file'] as const).filter((k) => entry[k] !== undefined);
    if (sources.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['password'], input: undefined, message: 'one of password, password_env or password_file is required' });
    } else if (sources.length > 1) {
      const extra = sources[1]!; // never `password` itself, so the value shown is not a secret
      ctx.addIssue({ code: 'custom', path: [extra], input: entry[extra], message: `give only one of ${sources.join(', ')}` });
    }
  })
  .transform((entry) => {
    const tls: TlsMode = entry.tls ?? (entry.port === undefined || entry.port === IMPLICIT_TLS_PORT ? 'implicit' : 'starttls');
    const port = entry.port ?? (tls === 'implicit' ? IMPLICIT_TLS_PORT : PLAIN_PORT);
    const password: PasswordSource =
      entry.password !== undefined
        ? { kind: 'inline', value: entry.password }
        : entry.password_env !== undefined
          ? { kind: 'env', name: entry.password_env }
          : { kind: 'file', path: entry.password_file ?? '' };
    return {
      username: entry.username,
      password,
      host: entry.host,
      port,
      tls,
      verifyCert: entry.verify_cert,
      mailbox: entry.mailbox,
    };
  });

export type PasswordSource =
  | { kind: 'inline'; value: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string };

export const mailboxListSchema = z
  .array(entrySchema)
  .min(1, { error: 'the mailbox config lists no mailboxes' })
  .superRefine((entries, ctx) => {
    // Two entries for the same folder would share a state file and collect every message twice.
    const seen = new Map<string, number>();
    entries.forEach((entry, index) => {
      const key = mailboxId(entry);
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: [index, 'mailbox'], input: key, message: `same account, server and mailbox as entry ${first}` });
      } else {
        seen.set(key, index);
      }
    });
  });

export type MailboxEntry = z.output<typeof entrySchema>;

/** A mailbox as the collector uses it: the password already resolved. */
export interface MailboxConfig extends Omit<MailboxEntry, 'password'> {
  password: string;
}

/** Identifies one folder of one account on one server, in logs, metrics and the state file name. */
export function mailboxId(m: Pick<MailboxEntry, 'username' | 'host' | 'port' | 'mailbox'>): string {
  return `${m.username}@${m.host}:${m.port}/${m.mailbox}`;
}
