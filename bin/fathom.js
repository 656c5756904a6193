#!/usr/bin/env node
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../core/dist/cli/main.js', import.meta.url))) {
  process.stderr.write('fathom: not built yet. Run "npm start" (or "npm run setup") in the Fathom folder first.\n');
  process.exit(2);
}
const { main } = await import('../core/dist/cli/main.js');
await main();
