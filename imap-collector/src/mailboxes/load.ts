// Reads and validates the mailbox config, then resolves each password from where it lives. Parsed
// and `${VAR}`-interpolated by the feed config's own code (YAML 1.1, as the seeds' PyYAML), so both
// files read alike. Errors are the LMTP collector's ConfigError (exit code 2), formatted by the same code.
import { readFile } from 'node:fs/promises';
import { ConfigError, formatIssues } from 'catchall-lmtp/config/errors';
import { interpolate, parseYamlValue } from 'catchall-lmtp/config/load';
import { mailboxListSchema, type MailboxConfig, type MailboxEntry } from './schema.js';

export async function loadMailboxConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<MailboxConfig[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read mailbox config ${file}: ${(err as Error).message}`);
  }
  return parseMailboxConfig(parseYamlValue(text, `mailbox config ${file}`), file, env);
}

export async function parseMailboxConfig(data: unknown, file: string, env: NodeJS.ProcessEnv = process.env): Promise<MailboxConfig[]> {
  // Checked before zod so that a mapping holding a password is never echoed back in the error.
  if (!Array.isArray(data)) {
    const got = data === null || data === undefined ? 'an empty file' : typeof data === 'object' ? 'a mapping' : JSON.stringify(data);
    throw new ConfigError(`mailbox config ${file}: expected a YAML list of mailboxes, got ${got}`);
  }
  let interpolated: unknown;
  try {
    interpolated = interpolate(data, env, ['mailboxes']);
  } catch (err) {
    throw err instanceof ConfigError ? new ConfigError(`mailbox config ${file}: ${err.message}`) : err;
  }
  const result = mailboxListSchema.safeParse(interpolated, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ ...issue, path: ['mailboxes', ...issue.path] }));
    throw formatIssues(`mailbox config ${file}`, issues);
  }
  return Promise.all(result.data.map((entry, index) => resolvePassword(entry, `mailbox config ${file}: mailboxes[${index}]`, env)));
}

async function resolvePassword(entry: MailboxEntry, where: string, env: NodeJS.ProcessEnv): Promise<MailboxConfig> {
  const source = entry.password;
  switch (source.kind) {
    case 'inline':
      return { ...entry, password: source.value };
    case 'env': {
      const value = env[source.name];
      if (!value) throw new ConfigError(`${where}.password_env: environment variable ${source.name} is not set or empty`);
      return { ...entry, password: value };
    }
    case 'file': {
      let value: string;
      try {
        // Secret files usually end with a newline that is not part of the password.
        value = (await readFile(source.path, 'utf8')).replace(/\r?\n$/, '');
      } catch (err) {
        throw new ConfigError(`${where}.password_file: cannot read ${source.path} (${(err as Error).message})`);
      }
      if (!value) throw new ConfigError(`${where}.password_file: ${source.path} is empty`);
      return { ...entry, password: value };
    }
  }
}
