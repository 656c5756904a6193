import { Client, SdkError, SdkErrorCode, SdkHttpError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { z } from 'zod';
import { FathomError, errorMessage } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { describeEntry, isHttpEntry } from './config.js';
import type { ServerEntry } from './config.js';
import type { ServerTools, ToolCall, ToolInfo, ToolOutcome } from './types.js';

export interface ConnectionEvent {
  type: 'reconnect' | 'server_exit';
  server: string;
  detail: string;
}

export interface OpenOptions {
  logger: Logger;
  /** Added to every stdio server's environment, under the entry's own `env`. */
  env?: NodeJS.ProcessEnv;
  /** Limit for starting a server, initializing and listing its tools (default 60 s). */
  timeoutMs?: number;
  onEvent?: (event: ConnectionEvent) => void;
}

export interface CallOptions {
  /** Default 1200 s, MiroThinker's limit on one tool call (`with_timeout(1200)` in its tool manager). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const CONNECT_TIMEOUT_MS = 60_000;
/** How long a server may take to answer the 2026-era probe before the 2025 handshake is tried. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The SDK's stdio transport, but probing the protocol era on the server's own process: the base
 * class probes on a second, throw-away process, which would start every server twice per task.
 * A server that exits on the probe is started again for the 2025 handshake (see connect()).
 */
class StdioTransport extends StdioClientTransport {}
const CALL_TIMEOUT_MS = 1_200_000;
/** A server that dies is started again once per task; a second death is final. */
const MAX_RECONNECTS = 1;

/** The last lines a stdio server wrote to stderr, for error messages. */
export class StderrTail {
  private lines: string[] = [];
  private partial = '';

  push(chunk: Buffer | string): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) this.lines.push(line.slice(0, 1000));
    if (this.lines.length > 50) this.lines = this.lines.slice(-50);
  }

  last(count = 10): string {
    const lines = this.partial.trim() ? [...this.lines, this.partial.slice(0, 1000)] : this.lines;
    return lines.slice(-count).join('\n');
  }
}

interface Session {
  client: Client;
  transport: StdioClientTransport | StreamableHTTPClientTransport;
  stderr: StderrTail;
  /** Set by close(), so a deliberate close is not taken for a death. */
  closing: boolean;
  lost: boolean;
  onLost?: () => void;
}

interface Server {
  name: string;
  entry: ServerEntry;
  tools: ToolInfo[];
  session: Session;
  exits: number;
  reconnects: number;
  reconnecting?: Promise<Session>;
  /** Why the one restart failed, if it did. */
  restartError?: string;
}

/** tools/list read loosely, so each inputSchema keeps the key order the server sent (the SDK's own parse moves `type` first). */
const rawToolsPage = z.looseObject({
  tools: z.array(z.looseObject({ name: z.string(), description: z.string().optional(), inputSchema: z.unknown() })),
  nextCursor: z.string().optional(),
});

/** One MCP session per configured server, open for the whole task. */
export class Connections {
  private readonly list: Server[];
  private readonly options: OpenOptions;
  private closing?: Promise<void>;

  private constructor(list: Server[], options: OpenOptions) {
    this.list = list;
    this.options = options;
    for (const server of list) this.watch(server, server.session);
  }

  /** Connects to every enabled server at once; fails, listing every server that did not start, if any did not. */
  static async open(servers: Record<string, ServerEntry>, options: OpenOptions): Promise<Connections> {
    const enabled = Object.entries(servers).filter(([, entry]) => !entry.disabled);
    const settled = await Promise.allSettled(enabled.map(([name, entry]) => connect(name, entry, options)));
    const failures = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    if (failures.length) {
      await Promise.all(settled.map((result) => (result.status === 'fulfilled' ? closeSession(result.value.session) : undefined)));
      throw combined(failures);
    }
    const list = settled.map((result, index) => {
      const [name, entry] = enabled[index]!;
      const { session, tools } = (result as PromiseFulfilledResult<Connected>).value;
      return { name, entry, tools: filterTools(name, entry, tools, options.logger), session, exits: 0, reconnects: 0 };
    });
    return new Connections(list, options);
  }

  /** Each server's tools after its allow/deny lists, in config order. */
  servers(): ServerTools[] {
    return this.list.map((server) => ({ server: server.name, tools: server.tools }));
  }

  /** The process id of a stdio server, while it runs. */
  pid(server: string): number | undefined {
    const transport = this.find(server)?.session.transport;
    return transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined;
  }

  /** How many times `server` was started again after it died. */
  reconnects(server: string): number {
    return this.find(server)?.reconnects ?? 0;
  }

  /** Runs one tool call. Never throws: every failure becomes an `isError` outcome. */
  async call(call: ToolCall, options: CallOptions = {}): Promise<ToolOutcome> {
    const started = Date.now();
    const outcome = (text: string, isError: boolean): ToolOutcome => ({ call, text, isError, ms: Date.now() - started });
    const server = this.find(call.server);
    if (!server || !server.tools.some((tool) => tool.name === call.tool)) {
      return outcome(`Unknown tool: ${call.server}/${call.tool}`, true);
    }
    const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
    try {
      const result = await this.callWithReconnect(server, call, timeoutMs, options.signal);
      return outcome(resultText(result), result.isError === true);
    } catch (error) {
      return outcome(`Error executing tool ${call.tool}: ${failureReason(error, timeoutMs, options.signal)}`, true);
    }
  }

  /** Closes every session; stdio servers exit. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= Promise.all(
      this.list.map(async (server) => {
        const pending = server.reconnecting;
        await closeSession(server.session);
        // A restart under way sees the connections closing and closes what it started.
        if (pending) await pending.catch(() => undefined);
      }),
    ).then(() => undefined);
    return this.closing;
  }

  private find(name: string): Server | undefined {
    return this.list.find((server) => server.name === name);
  }

  private watch(server: Server, session: Session): void {
    session.onLost = () => {
      server.exits++;
      const tail = session.stderr.last(5);
      const detail = `${server.name} exited (${describeEntry(server.entry)})${tail ? `; last stderr:\n${tail}` : ''}`;
      this.options.logger.warn('MCP server exited', { server: server.name, exits: server.exits });
      this.options.onEvent?.({ type: 'server_exit', server: server.name, detail });
    };
  }

  private async callWithReconnect(server: Server, call: ToolCall, timeoutMs: number, signal?: AbortSignal): Promise<CallResult> {
    while (true) {
      const session = await this.liveSession(server);
      try {
        return await callOnce(session, call, timeoutMs, signal);
      } catch (error) {
        if (!lostDuring(session, server.entry, error)) throw error;
        if (!session.lost) {
          session.lost = true;
          session.onLost?.();
        }
      }
    }
  }

  /** The server's session, started again once if its process died. */
  private liveSession(server: Server): Promise<Session> {
    if (this.closing) return Promise.reject(new Error('the MCP connections are closed'));
    if (!server.session.lost) return Promise.resolve(server.session);
    if (server.reconnecting) return server.reconnecting;
    if (server.restartError) return Promise.reject(new Error(server.restartError));
    if (server.reconnects >= MAX_RECONNECTS) {
      const tail = server.session.stderr.last(5);
      return Promise.reject(new Error(`${server.name} died twice during this task and is not started again${tail ? `; last stderr:\n${tail}` : ''}`));
    }
    server.reconnects++;
    void closeSession(server.session);
    this.options.logger.info('restarting MCP server', { server: server.name });
    server.reconnecting = connect(server.name, server.entry, this.options)
      .then(async ({ session }) => {
        if (this.closing) {
          await closeSession(session);
          throw new Error('the MCP connections are closed');
        }
        server.session = session;
        this.watch(server, session);
        this.options.onEvent?.({ type: 'reconnect', server: server.name, detail: `${server.name} was started again after it exited` });
        return session;
      })
      .catch((error: unknown) => {
        server.restartError = `${server.name} exited, and starting it again failed: ${errorMessage(error)}`;
        throw new Error(server.restartError);
      })
      .finally(() => {
        server.reconnecting = undefined;
      });
    return server.reconnecting;
  }
}

interface Connected {
  session: Session;
  tools: ToolInfo[];
}

async function connect(name: string, entry: ServerEntry, options: OpenOptions): Promise<Connected> {
  try {
    return await connectIn('auto', name, entry, options);
  } catch (error) {
    const probeKilled = !isHttpEntry(entry) && error instanceof FathomError && error.cause instanceof SdkError && error.cause.code === SdkErrorCode.EraNegotiationFailed;
    if (!probeKilled) throw error;
    options.logger.info('MCP server exited on the protocol probe; starting it again for the 2025 handshake', { server: name });
    return connectIn('legacy', name, entry, options);
  }
}

async function connectIn(mode: 'auto' | 'legacy', name: string, entry: ServerEntry, options: OpenOptions): Promise<Connected> {
  const timeout = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const stderr = new StderrTail();
  const transport = isHttpEntry(entry)
    ? new StreamableHTTPClientTransport(new URL(entry.url), { requestInit: { headers: entry.headers } })
    : new StdioTransport({
        command: entry.command,
        args: entry.args,
        env: { ...getDefaultEnvironment(), ...definedOnly(options.env), ...entry.env },
        ...(entry.cwd ? { cwd: entry.cwd } : {}),
        stderr: 'pipe',
      });
  if (transport instanceof StdioClientTransport) transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  // Over stdio, the newest protocol era the server offers: 2026-07-28 where it answers server/discover,
  // else the 2025 handshake. Over HTTP the 2025 era with its session: a task's sandboxes and browser
  // contexts close when its session ends, and a restarted server is seen as one; a 2026-era HTTP
  // request has no session, so what a task made would stay until its idle time.
  const negotiate = mode === 'auto' && !isHttpEntry(entry);
  const versionNegotiation = negotiate ? { mode, probe: { timeoutMs: Math.min(timeout, PROBE_TIMEOUT_MS) } } : { mode: 'legacy' as const };
  const client = new Client({ name: 'fathom-agent', version: '0.1.0' }, { capabilities: {}, versionNegotiation });
  const session: Session = { client, transport, stderr, closing: false, lost: false };
  client.onclose = () => {
    if (session.closing || session.lost) return;
    session.lost = true;
    session.onLost?.();
  };
  client.onerror = (error) => options.logger.debug('MCP transport error', { server: name, error: errorMessage(error) });
  const started = Date.now();
  try {
    await client.connect(transport, { timeout });
    const tools = await listTools(client, timeout);
    options.logger.info('MCP server connected', { server: name, era: client.getProtocolEra(), tools: tools.length, ms: Date.now() - started });
    return { session, tools };
  } catch (error) {
    const exited = !isHttpEntry(entry) && error instanceof SdkError && error.code === SdkErrorCode.ConnectionClosed;
    await closeSession(session);
    // A probe that failed for a reason of the transport (nothing listening) says that reason, not the probe's.
    const probed = error instanceof SdkError && error.code === SdkErrorCode.EraNegotiationFailed && error.cause instanceof Error ? error.cause : error;
    const reason = exited ? 'the process exited during start-up' : reasonOf(probed);
    const tail = stderr.last();
    throw new FathomError('unavailable', `${name} did not start: ${reason}${tail ? `\n${tail}` : ''}`, {
      hint: isHttpEntry(entry) ? `Check that an MCP server answers at ${entry.url}.` : `Check the command: ${describeEntry(entry)}`,
      cause: error,
      details: { server: name },
    });
  }
}

async function listTools(client: Client, timeout: number): Promise<ToolInfo[]> {
  const tools: ToolInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, rawToolsPage, { timeout });
    for (const tool of page.tools) {
      const schema = tool.inputSchema;
      const inputSchema = schema && typeof schema === 'object' && !Array.isArray(schema) ? (schema as Record<string, unknown>) : { type: 'object' };
      tools.push({ name: tool.name, description: tool.description ?? '', inputSchema });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

function filterTools(name: string, entry: ServerEntry, tools: ToolInfo[], logger: Logger): ToolInfo[] {
  const { allow, deny } = entry.tools ?? {};
  const offered = new Set(tools.map((tool) => tool.name));
  const unknown = [...(allow ?? []), ...(deny ?? [])].filter((tool) => !offered.has(tool));
  if (unknown.length) logger.warn('allow/deny lists name tools the server does not offer', { server: name, tools: unknown });
  return tools.filter((tool) => (!allow || allow.includes(tool.name)) && !deny?.includes(tool.name));
}

type CallResult = { content?: unknown; structuredContent?: unknown; isError?: unknown };

async function callOnce(session: Session, call: ToolCall, timeout: number, signal?: AbortSignal): Promise<CallResult> {
  // A call-scoped signal, so that a long task's signal does not collect one listener per call.
  const controller = new AbortController();
  const abort = () => controller.abort(signal?.reason);
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return (await session.client.callTool({ name: call.tool, arguments: call.arguments }, { timeout, signal: controller.signal })) as CallResult;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

function resultText(result: CallResult): string {
  const blocks = Array.isArray(result.content) ? (result.content as { type?: unknown; text?: unknown }[]) : [];
  const texts = blocks.filter((block) => block.type === 'text' && typeof block.text === 'string').map((block) => block.text as string);
  if (!texts.length && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return texts.join('\n');
}

/** Whether a failed call failed because the server went away (process exit, HTTP session or server gone). */
function lostDuring(session: Session, entry: ServerEntry, error: unknown): boolean {
  if (session.lost) return true;
  if (error instanceof SdkHttpError) return isHttpEntry(entry) && error.status === 404;
  if (error instanceof SdkError) return error.code === SdkErrorCode.ConnectionClosed;
  if (!isHttpEntry(entry)) return false;
  return error instanceof TypeError && error.message === 'fetch failed';
}

function failureReason(error: unknown, timeoutMs: number, signal?: AbortSignal): string {
  if (signal?.aborted) return 'the call was cancelled';
  if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) return `timed out after ${formatSeconds(timeoutMs)} s`;
  return reasonOf(error);
}

function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function reasonOf(error: unknown): string {
  const message = errorMessage(error);
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error && !message.includes(cause.message) ? `${message} (${cause.message})` : message;
}

function combined(failures: unknown[]): FathomError {
  const errors = failures.map((failure) =>
    failure instanceof FathomError ? failure : new FathomError('unavailable', errorMessage(failure), { cause: failure }),
  );
  if (errors.length === 1) return errors[0]!;
  const servers = errors.map((error) => error.details?.server).filter(Boolean);
  return new FathomError('unavailable', `${errors.length} MCP servers did not start:\n${errors.map((error) => error.message).join('\n')}`, {
    hint: errors.map((error) => error.hint).filter(Boolean).join('\n'),
    details: { servers },
  });
}

async function closeSession(session: Session): Promise<void> {
  session.closing = true;
  const { client, transport } = session;
  if (transport instanceof StreamableHTTPClientTransport && transport.sessionId && !session.lost) {
    await transport.terminateSession().catch(() => undefined);
  }
  await client.close().catch(() => undefined);
}

function definedOnly(env: NodeJS.ProcessEnv | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).filter((pair): pair is [string, string] => pair[1] !== undefined));
}
