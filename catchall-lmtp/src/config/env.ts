// Environment variables that override settings. Their names live in the schema (`.meta({ env })`);
// this module lists them and applies them to a config document. Empty variables count as unset, so
// that compose files can pass `${AMQP_URL:-}` through without effect. A `tuning` sink variable
// applies to every sink of its type and is ignored without one (a compose file may always set it);
// the others describe one sink, so they must not be ambiguous and need a sink (or add one).
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { amqpSinkSchema, hpfeedsSinkSchema, lmtpSchema, logSchema, metricsSchema, spoolSchema, commonSections } from './schema.js';

export interface EnvSetting {
  env: string;
  /** Path inside the section (or inside the sink, for sink settings). */
  path: string[];
  description: string;
  secret: boolean;
  /** Adjusts every sink of its type; ignored when there is none. */
  tuning: boolean;
}

interface JsonSchemaNode {
  env?: string;
  description?: string;
  secret?: boolean;
  tuning?: boolean;
  properties?: Record<string, JsonSchemaNode>;
}

function collect(node: JsonSchemaNode, path: string[], out: EnvSetting[]): EnvSetting[] {
  if (node.env) out.push({ env: node.env, path, description: node.description ?? '', secret: node.secret === true, tuning: node.tuning === true });
  for (const [key, child] of Object.entries(node.properties ?? {})) collect(child, [...path, key], out);
  return out;
}

const settingsOf = (schema: z.ZodType, prefix: string[]) => collect(z.toJSONSchema(schema, { io: 'output' }) as JsonSchemaNode, prefix, []);

/** Settings of the top-level sections, with their full path (e.g. lmtp.port). */
export const sectionEnv: EnvSetting[] = [
  ...settingsOf(lmtpSchema, ['lmtp']),
  ...settingsOf(z.object({ format: commonSections.format }), []),
  ...settingsOf(spoolSchema, ['spool']),
  ...settingsOf(metricsSchema, ['metrics']),
  ...settingsOf(logSchema, ['log']),
];

/** Per sink type: its settings, and the variables whose presence adds such a sink. */
export const sinkEnv = {
  amqp: { settings: settingsOf(amqpSinkSchema, []), creators: ['AMQP_URL', 'AMQP_HOST'] },
  hpfeeds: { settings: settingsOf(hpfeedsSinkSchema, []), creators: ['HPFEEDS_HOST'] },
} as const;

type Doc = Record<string, unknown>;
type Env = Record<string, string | undefined>;

export function setPath(doc: Doc, path: string[], value: unknown): void {
  let node = doc;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Doc;
  }
  node[path[path.length - 1]!] = value;
}

const present = (env: Env, name: string) => env[name] !== undefined && env[name] !== '';

/**
 * Applies the variables to a config document in our `sinks:` form (values stay strings; the schema
 * converts them). Returns where each overridden value came from, for error messages.
 */
export function applyEnv(doc: Doc, env: Env): Map<string, string> {
  const origins = new Map<string, string>();
  for (const s of sectionEnv) {
    if (!present(env, s.env)) continue;
    setPath(doc, s.path, env[s.env]);
    origins.set(s.path.join('.'), `environment variable ${s.env}`);
  }
  const sinks = (Array.isArray(doc.sinks) ? doc.sinks : []) as Doc[];
  for (const [type, { settings, creators }] of Object.entries(sinkEnv)) {
    const tuning = settings.filter((s) => s.tuning && present(env, s.env));
    const set = settings.filter((s) => !s.tuning && present(env, s.env));
    const ofType = sinks.filter((s) => s?.type === type);
    const apply = (sink: Doc, list: EnvSetting[]) => {
      const index = sinks.indexOf(sink);
      for (const s of list) {
        setPath(sink, s.path, env[s.env]);
        origins.set(['sinks', String(index), ...s.path].join('.'), `environment variable ${s.env}`);
      }
    };
    if (set.length === 0) {
      for (const sink of ofType) apply(sink, tuning);
      continue;
    }
    if (ofType.length > 1) {
      throw new ConfigError(
        `${set.map((s) => s.env).join(', ')} set, but the config has ${ofType.length} ${type} sinks: ` +
          'it is ambiguous which one they override; use ${VAR} inside the config file instead',
      );
    }
    let sink = ofType[0];
    if (!sink) {
      if (!creators.some((c) => present(env, c))) {
        throw new ConfigError(
          `${set.map((s) => s.env).join(', ')} set, but there is no ${type} sink in the config; set ${creators.join(' or ')} to add one`,
        );
      }
      sink = { type };
      sinks.push(sink);
    }
    apply(sink, [...set, ...tuning]);
  }
  if (sinks.length > 0) doc.sinks = sinks;
  return origins;
}
