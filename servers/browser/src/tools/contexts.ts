import { z } from 'zod';

export const contextIdField = z
  .string()
  .regex(/^(?:[A-Za-z0-9_-]{1,64}\.)?ctx_[0-9a-f]{32}$/, 'A context id as browser_open or browser_navigate returned it, e.g. "replica.ctx_…"')
  .optional()
  .describe("The browser context to use, as browser_open or browser_navigate returned it (default: this MCP session's own)");
