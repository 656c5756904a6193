import type { IncomingMessage, ServerResponse } from 'node:http';
import { toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import type { NodeMcpRequestHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, isLegacyRequest } from '@modelcontextprotocol/server';
import type { McpHttpHandler } from '@modelcontextprotocol/server';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { FathomServer } from './server.js';

/** What a server instance is made for. */
export interface InstanceOptions {
  /**
   * One 2026-07-28-era HTTP request: that era has no sessions, so the instance serves one request
   * and closes once it is answered. What must outlive the call is reached by a handle argument.
   */
  perRequest?: boolean;
}

/** Whether a parsed POST body (with its headers) is a 2026-07-28-era request: it carries the per-request `_meta` envelope. */
export async function isModernRequest(req: IncomingMessage, body: unknown): Promise<boolean> {
  return !(await isLegacyRequest(await toWebRequest(req, body), body));
}

/**
 * The 2026-07-28 era over HTTP, behind the host's guards (Host, Origin, token, body size, JSON):
 * the SDK's `createMcpHandler`, one per endpoint, each request served by an instance of its own.
 */
export class ModernEndpoints {
  private readonly handlers = new Map<string | undefined, { handler: McpHttpHandler; node: NodeMcpRequestHandler }>();
  /** The instances answering a request now: closing the host answers their calls first. */
  private readonly live = new Set<FathomServer>();

  constructor(
    private readonly create: (endpoint: string | undefined, options: InstanceOptions) => Promise<FathomServer>,
    private readonly logger: Logger,
  ) {}

  serve(req: IncomingMessage, res: ServerResponse, body: unknown, endpoint: string | undefined): Promise<void> {
    let entry = this.handlers.get(endpoint);
    if (!entry) {
      const onerror = (error: Error) => this.logger.debug('2026-era request refused or failed', { error: errorMessage(error) });
      const handler = createMcpHandler(
        async () => {
          const instance = await this.create(endpoint, { perRequest: true });
          this.live.add(instance);
          const closed = instance.server.onclose;
          instance.server.onclose = () => {
            this.live.delete(instance);
            closed?.();
          };
          return instance.server;
        },
        { legacy: 'reject', onerror },
      );
      entry = { handler, node: toNodeHandler(handler, { onerror }) };
      this.handlers.set(endpoint, entry);
    }
    return entry.node(req, res, body);
  }

  /** Answers the calls in flight with an error that starts with `reason`, then closes every instance. */
  async close(reason: string): Promise<void> {
    await Promise.all([...this.live].map((instance) => instance.close(reason)));
    await Promise.all([...this.handlers.values()].map(({ handler }) => handler.close()));
  }
}
