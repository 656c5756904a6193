import type { ServerContext, Tool } from '@fathom/core';
import type { BrowserManager } from './manager.js';
import type { Config } from './config.js';
import { ToolRuntime } from './runtime.js';
import { downloadTools } from './tools/downloads.js';
import { evaluateTools } from './tools/evaluate.js';
import { interactTools } from './tools/interact.js';
import { navigateTools } from './tools/navigate.js';
import { readTools } from './tools/read.js';
import { screenshotTools } from './tools/screenshot.js';
import { tabTools } from './tools/tabs.js';

/** The tools of one server instance (an MCP session over HTTP, a client over stdio): its browser context is its own and closes with it. */
export function toolsFor(context: ServerContext<Config, BrowserManager>): Tool[] {
  const runtime = new ToolRuntime(context);
  const read = readTools(runtime);
  const tools = [
    ...navigateTools(runtime),
    read.snapshot,
    ...interactTools(runtime),
    read.find,
    ...screenshotTools(runtime),
    ...tabTools(runtime),
    ...downloadTools(runtime),
    ...(context.config.enableEvaluate ? evaluateTools(runtime) : []),
  ];
  if (!context.config.cdpEndpoint) return tools;
  // A remote browser can go away under any call: its failure then says so.
  return tools.map((tool) => ({
    ...tool,
    async handle(args, toolContext) {
      try {
        return await tool.handle(args, toolContext);
      } catch (error) {
        throw await runtime.manager.explainFailure(error);
      }
    },
  }));
}
