// A Fathom server with one no-op tool, built with the kit the real servers use:
// defineServer + createToolServer + defineTool, run by serve().
// Usage: node bench/protocol/fathom-noop.mjs --transport stdio|http [--port N] --log-level warn
import { baseConfigSchema, createToolServer, defineServer, defineTool, serve } from '@fathom/core';
import { z } from 'zod';

const noop = defineTool({
  name: 'noop',
  title: 'No-op',
  description: 'Returns the text it is given; does nothing else.',
  input: z.object({ text: z.string().optional().describe('Text to echo back') }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: async ({ text }) => text ?? '',
});

const definition = defineServer({
  name: 'bench-noop',
  title: 'Benchmark no-op',
  description: 'One no-op tool, for measuring protocol overhead.',
  version: '0.0.0',
  defaultPort: 0,
  configSchema: baseConfigSchema,
  createServer: (_config, logger) => createToolServer({ name: 'bench-noop', version: '0.0.0', tools: [noop], logger }),
});

serve(definition, process.argv.slice(2)).catch((error) => {
  process.stderr.write(`fathom-noop: ${error?.stack ?? error}\n`);
  process.exit(2);
});
