// Regenerates the configuration table in the root README.md from the zod schema, so that defaults,
// environment variables and descriptions are documented from their single source.
// Run: npm run -w catchall-lmtp docs:config   (test/config-docs.test.ts fails when README.md is stale)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { amqpSinkSchema, configSchema, hpfeedsSinkSchema, maildirSinkSchema } from './schema.js';

interface Node {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  env?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  items?: Node;
  properties?: Record<string, Node>;
  required?: string[];
}

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

function typeOf(node: Node): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  if (node.type === 'array') return `list of ${typeOf(node.items ?? {})}`;
  if (node.type === 'integer') {
    if (node.minimum === 0 && node.maximum === 65535) return 'port';
    return node.minimum !== undefined && node.minimum > 0 ? 'integer ≥ ' + node.minimum : 'integer';
  }
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'any');
}

function defaultOf(node: Node, required: boolean): string {
  if (node.default === undefined) return required ? '**required**' : '–';
  if (typeof node.default === 'object') return '';
  return `\`${JSON.stringify(node.default).replace(/^"|"$/g, '')}\``;
}

function rows(node: Node, prefix: string): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.properties) {
      out.push(...rows(child, path));
      continue;
    }
    if (key === 'sinks') continue; // documented per sink type below
    const required = node.required?.includes(key) === true && child.default === undefined;
    out.push(`| \`${path}\` | ${typeOf(child)} | ${defaultOf(child, required)} | ${child.env ? `\`${child.env}\`` : ''} | ${child.description ?? ''} |`);
  }
  return out;
}

const schemaOf = (s: z.ZodType) => z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Node;

export function renderConfigTable(): string {
  const header = ['| key | type | default | env | meaning |', '|---|---|---|---|---|'];
  const sinks = [
    ['AMQP sink (`type: amqp`)', amqpSinkSchema],
    ['hpfeeds sink (`type: hpfeeds`)', hpfeedsSinkSchema],
    ['maildir archive sink (`type: maildir`)', maildirSinkSchema],
  ] as const;
  return [
    '_Generated from `catchall-lmtp/src/config/schema.ts` by `npm run -w catchall-lmtp docs:config`; do not edit by hand._',
    '',
    'Top-level settings (YAML keys; an environment variable, when listed, overrides the file):',
    '',
    ...header,
    ...rows(schemaOf(configSchema), ''),
    ...sinks.flatMap(([title, schema]) => [
      '',
      `Each entry of \`sinks:\` — ${title}:`,
      '',
      ...header,
      ...rows(schemaOf(schema), "sinks[]").filter((r) => !r.startsWith('| `sinks[].type`')),
    ]),
  ].join('\n');
}

/** README.md with the region between the markers replaced by the current table. */
export function updatedReadme(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} … ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${renderConfigTable()}\n${readme.slice(end)}`;
}

export const README_PATH = fileURLToPath(new URL('../../../README.md', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const before = readFileSync(README_PATH, 'utf8');
  const after = updatedReadme(before);
  if (after !== before) writeFileSync(README_PATH, after);
  process.stdout.write(after === before ? 'README.md config table is up to date\n' : 'README.md config table regenerated\n');
}
