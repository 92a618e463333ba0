import type { z } from 'zod';

/** A configuration the collector refuses to start with. The CLI prints it and exits with code 2. */
export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const SECRET_KEYS = /^(password|secret)$/i;

/** `sinks.0.tls.ca` → `sinks[0].tls.ca`, the way a reader finds it in the YAML. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out || '(top level)';
}

function describeValue(path: readonly PropertyKey[], input: unknown): string {
  if (input === undefined) return 'missing';
  if (SECRET_KEYS.test(String(path[path.length - 1]))) return 'got ***';
  const text = JSON.stringify(input);
  return `got ${text && text.length > 80 ? text.slice(0, 77) + '...' : text}`;
}

/** One line per problem: key path, value, what was expected, and where an overriding value came from. */
export function formatIssues(source: string, issues: z.core.$ZodIssue[], origins = new Map<string, string>()): ConfigError {
  const lines = issues.map((issue) => {
    const where = formatPath(issue.path);
    const origin = origins.get(issue.path.map(String).join('.'));
    let expectation = issue.message.replace(/^Invalid (input|option): /, '');
    if (issue.code === 'unrecognized_keys') return `  ${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
      expectation = issue.message.replace('Invalid discriminator value. Expected', 'expected one of');
    }
    let input = (issue as { input?: unknown }).input;
    // a discriminator issue carries the whole object; the offending value is its `type`
    if (issue.code === 'invalid_union' && input && typeof input === 'object' && 'type' in input) input = input.type;
    return `  ${where}: ${expectation}; ${describeValue(issue.path, input)}${origin ? ` (from ${origin})` : ''}`;
  });
  return new ConfigError(`invalid configuration in ${source}:\n${lines.join('\n')}`);
}
