import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { fileURLToPath } from 'node:url';
import { CallToolRequestSchema, ListToolsRequestSchema, RootsListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { errorMessage, isFathomError } from './errors.js';
import type { Logger } from './log.js';
import { createLogger } from './log.js';
import type { Tool, ToolContext, ToolReply } from './tool.js';
import { errorResult } from './tool.js';

export interface FathomServer {
  server: Server;
  close(): Promise<void>;
}

export interface ToolServerOptions {
  name: string;
  version: string;
  title?: string;
  instructions?: string;
  tools: readonly Tool[];
  logger?: Logger;
  /** Releases what this server instance holds (one per HTTP session, one in stdio mode). */
  onClose?: () => Promise<void> | void;
}

function toResult(tool: Tool, reply: ToolReply<Record<string, unknown>>): CallToolResult {
  if (typeof reply === 'string') return { content: [{ type: 'text', text: reply }] };
  const content = [...(reply.content ?? [])];
  if (reply.text !== undefined) content.unshift({ type: 'text', text: reply.text });
  const result: CallToolResult = { content };
  if (reply.structured !== undefined) {
    if (tool.output && !reply.isError) {
      const checked = tool.output.safeParse(reply.structured);
      if (!checked.success) {
        throw new Error(`Tool "${tool.name}" produced output that breaks its schema: ${z.prettifyError(checked.error)}`);
      }
    }
    result.structuredContent = reply.structured;
    if (content.length === 0) content.push({ type: 'text', text: JSON.stringify(reply.structured) });
  }
  if (reply.isError) result.isError = true;
  return result;
}

/**
 * An MCP server (the SDK's low-level `Server`) that lists and calls `tools`. Every failure inside
 * a call becomes an `isError` result that tells the model how to recover; nothing a call receives
 * reaches the process.
 */
export function createToolServer(options: ToolServerOptions): FathomServer {
  const logger = options.logger ?? createLogger(options.name);
  const byName = new Map(options.tools.map((tool) => [tool.name, tool]));
  if (byName.size !== options.tools.length) throw new Error(`Duplicate tool name in ${options.name}`);

  const server = new Server(
    { name: options.name, version: options.version, ...(options.title ? { title: options.title } : {}) },
    {
      capabilities: { tools: { listChanged: false }, logging: {} },
      ...(options.instructions ? { instructions: options.instructions } : {}),
    },
  );

  const listed: McpTool[] = options.tools.map((tool) => ({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: tool.inputSchema as McpTool['inputSchema'],
    ...(tool.outputSchema ? { outputSchema: tool.outputSchema as McpTool['outputSchema'] } : {}),
    annotations: { title: tool.title, ...tool.annotations },
  }));

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));

  let clientRoots: Promise<string[] | undefined> | undefined;
  server.setNotificationHandler(RootsListChangedNotificationSchema, () => {
    clientRoots = undefined;
  });
  const roots = (): Promise<string[] | undefined> => {
    if (!server.getClientCapabilities()?.roots) return Promise.resolve(undefined);
    clientRoots ??= server
      .listRoots()
      .then(({ roots: offered }) => offered.filter((root) => root.uri.startsWith('file:')).map((root) => fileURLToPath(root.uri)))
      .catch((error: unknown) => {
        logger.warn('roots/list failed', { error: errorMessage(error) });
        clientRoots = undefined;
        return undefined;
      });
    return clientRoots;
  };

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const tool = byName.get(name);
    if (!tool) {
      const known = [...byName.keys()].join(', ') || '(none)';
      return errorResult(`Unknown tool "${name}". This server's tools are: ${known}.`);
    }
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) {
      return errorResult(
        `Invalid arguments for ${name}:\n${z.prettifyError(parsed.error)}\n` +
          `Fix the arguments to match the tool's input schema and call it again.`,
      );
    }
    const progressToken = request.params._meta?.progressToken;
    const context: ToolContext = {
      signal: extra.signal,
      sessionId: extra.sessionId,
      logger,
      roots,
      notify: (level, data) => server.sendLoggingMessage({ level, logger: name, data }, extra.sessionId),
      progress: async (progress, total, message) => {
        if (progressToken === undefined) return;
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress, ...(total === undefined ? {} : { total }), ...(message ? { message } : {}) },
        });
      },
    };
    try {
      return toResult(tool, await tool.handle(parsed.data, context));
    } catch (error) {
      if (isFathomError(error)) {
        logger.debug('tool failed', { tool: name, code: error.code, error: error.message });
        return errorResult(error.toText());
      }
      if (extra.signal.aborted) return errorResult(`${name} was cancelled.`);
      logger.error('tool crashed', { tool: name, error: errorMessage(error), stack: (error as Error)?.stack });
      return errorResult(
        `${name} failed with an internal error: ${errorMessage(error)}\n` +
          `This is a fault in the server, not in your arguments; try again or use another tool.`,
      );
    }
  });

  let closed = false;
  return {
    server,
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await options.onClose?.();
    },
  };
}
