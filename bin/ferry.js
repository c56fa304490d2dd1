#!/usr/bin/env node
// The `ferry` command. The sources are TypeScript, run through tsx's loader so a fresh
// clone needs no build step; the CLI itself lives in cli.ts.
import { register } from 'tsx/esm/api';
register();
await import('./cli.ts');
