#!/usr/bin/env node
// Runs the bundle of src/client-cli.ts that `npm run build` makes (npm ci runs it too; see scripts/build.mjs).
import { existsSync } from 'node:fs';
const bundle = new URL('../dist/client-cli.js', import.meta.url);
if (existsSync(new URL('../src', import.meta.url))) (await import('../../scripts/lib/bundle-fresh.mjs')).assertFresh('hpfeeds', bundle);
await import(bundle.href);
