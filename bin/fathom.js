#!/usr/bin/env node
import { existsSync } from 'node:fs';

// In a clone @fathom/cli is the workspace cli/ (built by "npm start" or "npm run setup"); in an
// installed package it is bundled under node_modules/.
let cli;
try {
  cli = new URL(import.meta.resolve('@fathom/cli'));
} catch {
  cli = undefined;
}
if (!cli || !existsSync(cli)) {
  process.stderr.write('fathom: not built yet. Run "npm start" (or "npm run setup") in the Fathom folder first.\n');
  process.exit(2);
}
const { main } = await import(cli.href);
await main();
