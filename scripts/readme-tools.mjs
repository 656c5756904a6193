#!/usr/bin/env node
// The README's tool tables, generated from the tools each server lists (names, input schemas,
// descriptions), between <!-- tools:SERVER:PROFILE --> and <!-- /tools --> markers.
//
//   node scripts/readme-tools.mjs          rewrite the tables in README.md
//   node scripts/readme-tools.mjs --check  fail, naming the table, when README.md differs (npm run lint)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, loadConfig } from '@fathom/core';
import { connectInMemory } from '@fathom/core/testing';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readmePath = join(root, 'README.md');
const check = process.argv.includes('--check');
const logger = createLogger('readme', { level: 'silent' });

/** Flags that keep a server from starting anything while it only lists its tools. */
const QUIET_FLAGS = { 'cache-mode': 'off', 'python-sandbox': { backend: 'pyodide', 'warm-pool': '0' } };

async function toolsOf(server, profile) {
  const { definition } = await import(`@fathom/${server}`);
  const flags = { profile, 'cache-mode': QUIET_FLAGS['cache-mode'], ...(QUIET_FLAGS[server] ?? {}) };
  const config = loadConfig(definition.configSchema, { server, flags, env: {}, cwd: root });
  const connection = await connectInMemory(await definition.createServer(config, logger));
  try {
    return (await connection.client.listTools()).tools;
  } finally {
    await connection.close();
    await definition.shutdown();
  }
}

function argumentsOf(tool) {
  const { properties = {}, required = [] } = tool.inputSchema;
  return Object.entries(properties)
    .map(([name, schema]) => {
      const values = schema.enum ?? schema.items?.enum;
      const optional = required.includes(name) ? '' : '?';
      return `\`${name}${optional}\`${values ? ` (${values.map((value) => `\`${value}\``).join(', ')})` : ''}`;
    })
    .join(', ');
}

/** The description's first sentence: what the tool does, without the usage notes after it. */
function summaryOf(tool) {
  const text = (tool.description ?? '').replace(/\s+/g, ' ').trim();
  // A full stop ends the sentence unless it ends an abbreviation (e.g., i.e., etc.).
  const end = [...text.matchAll(/[.!?](?=\s|$)/g)].find((match) => !/\b(e\.g|i\.e|etc|vs)$/.test(text.slice(0, match.index)))?.index;
  return (end === undefined ? text : text.slice(0, end + 1)).replace(/\|/g, '\\|');
}

function table(tools) {
  const rows = tools.map((tool) => `| \`${tool.name}\` | ${argumentsOf(tool)} | ${summaryOf(tool)} |`);
  return ['| tool | arguments | what it does |', '|---|---|---|', ...rows].join('\n');
}

const readme = readFileSync(readmePath, 'utf8');
const markers = [...readme.matchAll(/<!-- tools:([\w-]+):([\w-]+) -->\n[\s\S]*?<!-- \/tools -->/g)];
if (markers.length === 0) {
  process.stderr.write('README.md has no <!-- tools:SERVER:PROFILE --> markers\n');
  process.exit(1);
}
let updated = readme;
const stale = [];
for (const [block, server, profile] of markers) {
  const generated = `<!-- tools:${server}:${profile} -->\n${table(await toolsOf(server, profile))}\n<!-- /tools -->`;
  if (generated !== block) stale.push(`${server} (${profile} profile)`);
  updated = updated.replace(block, generated);
}
if (check) {
  if (stale.length) {
    process.stderr.write(`README.md's tool tables differ from the servers' tools: ${stale.join(', ')}. Run: node scripts/readme-tools.mjs\n`);
    process.exit(1);
  }
} else if (updated !== readme) {
  writeFileSync(readmePath, updated);
  process.stdout.write(`README.md: rewrote ${stale.join(', ')}\n`);
}
