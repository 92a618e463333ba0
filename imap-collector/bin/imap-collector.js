#!/usr/bin/env node
// TypeScript runs through tsx everywhere (tests, native mode, containers), so there is one code path.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
