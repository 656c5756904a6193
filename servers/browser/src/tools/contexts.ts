import { z } from 'zod';

export const contextIdField = z
  .string()
  .regex(/^ctx_[0-9a-f]{32}$/, 'A context id as browser_open or browser_navigate returned it, e.g. "ctx_…"')
  .optional()
  .describe("The browser context to use, as browser_open or browser_navigate returned it (default: this MCP session's own)");
