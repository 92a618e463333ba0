// Loads a dotenv file into process.env before the config is read (shared with imap-collector).
import { existsSync } from 'node:fs';
import dotenv from 'dotenv';
import { ConfigError } from './errors.js';

/** `path` given: it must exist. Not given: `.env` if present. Never overrides the real environment. */
export function loadEnvFile(path: string | undefined): void {
  if (path !== undefined && !existsSync(path)) throw new ConfigError(`--dotenv ${path}: no such file`);
  const file = path ?? '.env';
  if (existsSync(file)) dotenv.config({ path: file, quiet: true });
}
