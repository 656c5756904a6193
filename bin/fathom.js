#!/usr/bin/env node
import { existsSync } from 'node:fs';

// Fathom needs Node 24 LTS (node:sqlite among others). In a clone, `npm ci` installs it into
// node_modules and every npm script (`npm start` included) runs on it, whatever the system Node.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 15)) {
  process.stderr.write(
    `fathom: needs Node.js 24.15 or newer, and this is Node ${process.version}.\n` +
      'In the Fathom folder, run "npm start" (it runs on the Node 24 that npm ci installs there),\n' +
      'or install Node.js 24 and run fathom with it.\n',
  );
  process.exit(2);
}

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
