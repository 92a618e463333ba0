// Builds the effective configuration: YAML file (any of the three formats, `${VAR}` interpolated)
// → normalised `sinks:` document → environment variables → command-line options → one zod parse.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { applyEnv, setPath } from './env.js';
import { ConfigError, formatIssues, formatPath } from './errors.js';
import { configSchema, type Config } from './schema.js';
import { detectFormat, flatHpfeedsFileSchema, fromFlatHpfeeds, fromTyped, typedFileSchema } from './seed-formats.js';

type Doc = Record<string, unknown>;
type Env = Record<string, string | undefined>;

/** Command-line options, as paths into the config (e.g. `lmtp.port`). Strings are converted by the schema. */
export type Overrides = Record<string, unknown>;

export interface LoadOptions {
  file?: string;
  env?: Env;
  overrides?: Overrides;
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${VAR}` and `${VAR:-default}` in every string value (`$$` is a literal `$`). */
export function interpolate(value: unknown, env: Env, path: PropertyKey[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      const v = env[name!];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(
        `${formatPath(path)}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k])]));
  }
  return value;
}

/**
 * Parses YAML the way the seeds' PyYAML did: YAML 1.1, so `10_000` is a number and `False` a boolean.
 * Any top-level value; null for an empty document.
 */
export function parseYamlValue(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text, { version: '1.1', prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source} is not valid YAML:\n${doc.errors.map((e) => `  ${e.message}`).join('\n')}`);
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/** parseYamlValue for a settings file: a mapping at the top level (an empty file is an empty one). */
export function parseYaml(text: string, source: string): Doc {
  const value = parseYamlValue(text, source);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${source}: expected a mapping of settings at the top level, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  }
  return value as Doc;
}

/** Validates a file in whichever format it is written and returns it in our `sinks:` form. */
export function normalise(doc: Doc, source: string): Doc {
  switch (detectFormat(doc)) {
    case 'flat-hpfeeds': {
      const r = flatHpfeedsFileSchema.safeParse(doc, { reportInput: true });
      if (!r.success) throw formatIssues(`${source} (flat hpfeeds format)`, r.error.issues);
      return fromFlatHpfeeds(r.data) as Doc;
    }
    case 'typed': {
      const r = typedFileSchema.safeParse(doc, { reportInput: true });
      if (!r.success) throw formatIssues(`${source} (typed format)`, r.error.issues);
      return fromTyped(r.data) as Doc;
    }
    case 'sinks': {
      const r = configSchema.safeParse(doc, { reportInput: true });
      if (!r.success) throw formatIssues(source, r.error.issues);
      return structuredClone(doc); // the input, not the output: sink formats must stay unset here
    }
  }
}

export function loadConfig({ file, env = process.env, overrides = {} }: LoadOptions = {}): Config {
  let doc: Doc = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    doc = normalise(interpolate(parseYaml(text, file), env) as Doc, file);
  }
  const origins = applyEnv(doc, env);
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    setPath(doc, path.split('.'), value);
    origins.set(path, `command-line option for ${path}`);
  }
  // Broker sinks without their own format use the top-level one (a maildir always holds the raw bytes).
  if (Array.isArray(doc.sinks) && doc.format !== undefined) {
    for (const sink of doc.sinks as Doc[]) {
      if ((sink?.type === 'amqp' || sink?.type === 'hpfeeds') && sink.format === undefined) sink.format = doc.format;
    }
  }
  const r = configSchema.safeParse(doc, { reportInput: true });
  if (!r.success) throw formatIssues(file ?? 'the environment and command line', r.error.issues, origins);
  const config = r.data;
  if (config.sinks.length === 0 && !config.spool.dir) {
    throw new ConfigError(
      'no destination configured: give a config file with sinks (-f), set AMQP_URL/AMQP_HOST or HPFEEDS_HOST, ' +
        'or a maildir (-m DIR); a collector without one would accept mail and keep it nowhere',
    );
  }
  return config;
}

/** The config as JSON with passwords and secrets masked, for --check-config and the start-up log. */
export function redact(config: Config): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) => {
      if ((key === 'password' || key === 'secret') && typeof value === 'string') return '***';
      if (key === 'url' && typeof value === 'string') return value.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
      return value;
    }),
  );
}
