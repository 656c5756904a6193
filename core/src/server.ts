import { fileURLToPath } from 'node:url';
import { Server } from '@modelcontextprotocol/server';
import type { CallToolResult, Tool as McpTool } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { FathomError, errorMessage, isFathomError } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { Logger } from './log.js';
import { createLogger } from './log.js';
import { narrowRoots } from './paths.js';
import type { ToolReply } from './response.js';
import { ToolResponse } from './response.js';
import type { Tool, ToolContext } from './tool.js';
import { errorResult } from './tool.js';

export interface FathomServer {
  server: Server;
  /**
   * Closes this instance. Calls still running are answered first, with an error that starts with
   * `reason` (default "The MCP session was closed"), and their signals abort.
   */
  close(reason?: string): Promise<void>;
}

export interface ToolServerOptions {
  name: string;
  version: string;
  title?: string;
  instructions?: string;
  tools: readonly Tool[];
  logger?: Logger;
  /** The folders the operator opened (`--roots`). A client's MCP roots can only narrow them. */
  roots?: readonly string[];
  /** Releases what this server instance holds (one per HTTP session, one in stdio mode). */
  onClose?: () => Promise<void> | void;
}

/** The answer to a call that a closing session or server did not let finish. */
export function interruptedText(reason: string): string {
  return `${reason}; the call was not completed: retry on a new connection.`;
}

/** Where a failed call's stable `FathomError` code reaches the client, beside the text the model reads. */
export const ERROR_META_KEY = 'fathom/error';

function coded(result: CallToolResult, code: ErrorCode): CallToolResult {
  return { ...result, _meta: { [ERROR_META_KEY]: { code } } };
}

function toResult(tool: Tool, answer: ToolReply<Record<string, unknown>> | ToolResponse): CallToolResult {
  const reply = answer instanceof ToolResponse ? answer.reply() : answer;
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

  server.setRequestHandler('tools/list', () => ({ tools: listed }));

  let clientRoots: Promise<string[] | undefined> | undefined;
  server.setNotificationHandler('notifications/roots/list_changed', () => {
    clientRoots = undefined;
  });
  const offeredRoots = (): Promise<string[] | undefined> => {
    // The 2026-07-28 era has no server-to-client requests, so no roots/list: the operator's roots hold.
    if (isModernEra(server) || !server.getClientCapabilities()?.roots) return Promise.resolve(undefined);
    clientRoots ??= server
      .listRoots()
      .then(({ roots: offered }) => offered.flatMap((root) => fileRootPath(root.uri, logger)))
      .catch((error: unknown) => {
        logger.warn('roots/list failed', { error: errorMessage(error) });
        clientRoots = undefined;
        return undefined;
      });
    return clientRoots;
  };
  const configuredRoots = options.roots ?? [];
  const roots = async (): Promise<string[]> => narrowRoots(configuredRoots, await offeredRoots());

  const running = new Set<(reason: string) => void>();
  let closingReason: string | undefined;

  const runTool = async (tool: Tool, args: unknown, context: ToolContext): Promise<CallToolResult> => {
    try {
      return toResult(tool, await tool.handle(args, context));
    } catch (error) {
      if (isFathomError(error)) {
        logger.debug('tool failed', { tool: tool.name, code: error.code, error: error.message });
        return coded(errorResult(error.toText()), error.code);
      }
      if (context.signal.aborted) return errorResult(`${tool.name} was cancelled.`);
      logger.error('tool crashed', { tool: tool.name, error: errorMessage(error), stack: (error as Error)?.stack });
      return coded(
        errorResult(
          `${tool.name} failed with an internal error: ${errorMessage(error)}\n` +
            `This is a fault in the server, not in your arguments; try again or use another tool.`,
        ),
        'internal',
      );
    }
  };

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    if (closingReason !== undefined) return errorResult(interruptedText(closingReason));
    const { name, arguments: args } = request.params;
    const tool = byName.get(name);
    if (!tool) {
      const known = [...byName.keys()].join(', ') || '(none)';
      return coded(errorResult(`Unknown tool "${name}". This server's tools are: ${known}.`), 'not_found');
    }
    const parsed = tool.input.safeParse(args ?? {});
    if (!parsed.success) {
      return coded(
        errorResult(
          `Invalid arguments for ${name}:\n${z.prettifyError(parsed.error)}\n` +
            `Fix the arguments to match the tool's input schema and call it again.`,
        ),
        'invalid_argument',
      );
    }
    const progressToken = request.params._meta?.progressToken;
    const stop = new AbortController();
    let interrupt!: (reason: string) => void;
    const interrupted = new Promise<CallToolResult>((resolve) => {
      interrupt = (reason) => {
        stop.abort(new FathomError('cancelled', reason));
        resolve(errorResult(interruptedText(reason)));
      };
    });
    const context: ToolContext = {
      signal: AbortSignal.any([ctx.mcpReq.signal, stop.signal]),
      sessionId: ctx.sessionId,
      logger,
      roots,
      // A 2026-era request carries its own log level (absent: no messages); a 2025 session set one with logging/setLevel.
      notify: (level, data) =>
        isModernEra(server) ? ctx.mcpReq.log(level, data, name) : server.sendLoggingMessage({ level, logger: name, data }, ctx.sessionId),
      progress: async (progress, total, message) => {
        if (progressToken === undefined) return;
        await ctx.mcpReq.notify({
          method: 'notifications/progress',
          params: { progressToken, progress, ...(total === undefined ? {} : { total }), ...(message ? { message } : {}) },
        });
      },
    };
    running.add(interrupt);
    try {
      return await Promise.race([runTool(tool, parsed.data, context), interrupted]);
    } finally {
      running.delete(interrupt);
    }
  });

  // The SDK's own entries (one 2026-era HTTP request, a stdio connection) close the Server directly:
  // what the instance holds is released then too, once.
  let released: Promise<void> | undefined;
  const release = () => (released ??= Promise.resolve(options.onClose?.()));
  server.onclose = () => void release().catch((error: unknown) => logger.warn('instance release failed', { error: errorMessage(error) }));

  let closed: Promise<void> | undefined;
  return {
    server,
    close(reason = 'The MCP session was closed') {
      closed ??= (async () => {
        closingReason = reason;
        if (running.size > 0) {
          for (const interrupt of [...running]) interrupt(reason);
          // The SDK sends those answers a few microtasks later: the transport must still be open then.
          await new Promise((resolve) => setImmediate(resolve));
        }
        await server.close();
        await release();
      })();
      return closed;
    },
  };
}

/** Whether `server` serves the 2026-07-28 era (one request over HTTP, a connection pinned to it over stdio). */
export function isModernEra(server: Server): boolean {
  return (server.getNegotiatedProtocolVersion() ?? '') >= '2026-07-28';
}

/** The path of a file: root, or nothing (logged) for other schemes and malformed URIs. */
function fileRootPath(uri: string, logger: Logger): string[] {
  if (!uri.startsWith('file:')) return [];
  try {
    return [fileURLToPath(uri)];
  } catch (error) {
    logger.warn('ignoring a malformed client root', { uri, error: errorMessage(error) });
    return [];
  }
}
