import { FathomError, respond } from '@fathom/core';
import type { ServerContext, ToolContext, ToolResponse } from '@fathom/core';
import type { Page } from 'playwright-core';
import { z } from 'zod';
import type { Config } from './config.js';
import type { BrowserManager } from './manager.js';
import { isBlankPage } from './session.js';
import type { BrowserSession, ViewMode } from './session.js';
import { ariaView, diffViews, markdownView } from './snapshot.js';
import type { ContextRegistry } from './contexts.js';

/**
 * A 2026-era HTTP request is an instance of its own, closed once answered: the contexts such
 * requests open belong to them all, are reached by the id a later call passes back, and close when idle.
 */
const PER_REQUEST_OWNER = '2026-era requests';

export const DEFAULT_VIEW_CHARS = 6000;
export const NO_PAGE = 'No page is open: call browser_navigate first.';
export const refField = z.string().min(1).max(40).describe('An element ref from the last snapshot, e.g. m12 or e7');
export const fullField = z.boolean().default(false).describe('Return the whole page view instead of what changed');
export const viewCharsField = (max: number, fallback: number) => z.number().int().min(500).max(max).default(fallback);

/**
 * What the tools of one server instance (an MCP session over HTTP, a client over stdio) share:
 * its browser session, which is its own and closes with it, and the way an answer about a page reads.
 */
export class ToolRuntime {
  readonly config: Config;
  readonly manager: BrowserManager;
  private readonly instanceId: string;
  private readonly contexts: ContextRegistry;
  private readonly perRequest: boolean;
  /** The context a 2026-era browser_navigate opened for its one call. */
  private opened: string | undefined;
  private closed = false;

  constructor({ config, runtime, instance }: ServerContext<Config, BrowserManager>) {
    this.config = config;
    this.manager = runtime;
    this.perRequest = instance.perRequest;
    this.instanceId = instance.perRequest ? PER_REQUEST_OWNER : instance.id;
    this.contexts = runtime.contexts;
    if (instance.perRequest) return;
    instance.onClose(async () => {
      this.closed = true;
      const opened = this.contexts.release(instance.id);
      await Promise.allSettled([instance.id, ...opened].map((id) => runtime.closeSession(id)));
    });
  }

  /**
   * This instance's browser session, opened on first use; with a context id, the context it names
   * (one this instance opened). A 2026-era request has no session of its own: it names a context,
   * or (`open`, for browser_navigate) gets a new one whose id its answer carries.
   */
  async session(context: ToolContext, contextId?: string, options: { open?: boolean } = {}): Promise<BrowserSession> {
    if (this.closed) throw new FathomError('cancelled', 'The MCP session was closed', { hint: 'Connect again.' });
    if (contextId !== undefined && !this.contexts.lookup(contextId, this.instanceId).own) return this.manager.session(contextId);
    if (this.perRequest) {
      if (!options.open) {
        throw new FathomError('invalid_argument', 'This request has no MCP session, so it must name its browser context: pass context_id', {
          hint: 'Pass the context_id that browser_navigate or browser_open returned (MCP 2026-07-28 requests keep no session between calls).',
        });
      }
      this.opened = await this.openContext();
      return this.manager.session(this.opened);
    }
    // The downloads folder is named after the MCP session where there is one.
    return this.manager.session(this.instanceId, context.sessionId ?? this.instanceId);
  }

  /** The id that names the context `contextId` does, or this instance's own context when there is none. */
  contextId(contextId?: string): string {
    return contextId ?? this.opened ?? this.contexts.ownId(this.instanceId);
  }

  /** A new browser context of this instance's, apart from its own: its id, to pass as context_id. */
  async openContext(): Promise<string> {
    if (this.closed) throw new FathomError('cancelled', 'The MCP session was closed', { hint: 'Connect again.' });
    const id = this.contexts.open(this.instanceId);
    try {
      this.contexts.attach(id, await this.manager.session(id));
    } catch (error) {
      this.contexts.forget(id);
      throw error;
    }
    // The MCP session ended while the context opened: it goes with it.
    if (this.closed) await this.manager.closeSession(id);
    return id;
  }

  /** The current tab's page, for a tool that reads or acts on it: a blank tab has nothing to read or act on. */
  async openPage(session: BrowserSession): Promise<Page> {
    const page = await session.page();
    if (isBlankPage(page)) {
      throw new FathomError('not_found', NO_PAGE, {
        hint: session.tabs.length > 1 ? 'Or switch to a tab that has a page (browser_tabs list shows them).' : undefined,
      });
    }
    return page;
  }

  /**
   * An answer about `page`: its heading says where the page is (after `first`, before `lines`);
   * then what happened that the agent did not ask for, as [event] lines, and the lost-state note.
   */
  onPage(session: BrowserSession, page: Page, lines: string[] = [], first?: string): ToolResponse {
    const response = respond().heading([...(first ? [first] : []), `Page: ${page.url()}`, ...lines].join('\n'));
    for (const note of session.takeNotes()) response.note(note);
    return response.text(events(session));
  }

  /** The page as the agent reads it; every in-page step under the session's time limit. */
  async view(session: BrowserSession, page: Page, mode: ViewMode): Promise<string> {
    if (mode === 'aria') return session.read(page, () => ariaView(page));
    // The page's title is in the answer's heading (Title: ...), not repeated here as a heading.
    return (await markdownView(page, (script) => session.read(page, () => page.evaluate(script)), session.markdownMemo(page))).markdown;
  }

  /** A fresh view of the current tab, remembered for the next diff. */
  async fullView(session: BrowserSession, mode: ViewMode): Promise<string> {
    const page = session.current;
    const text = await this.view(session, page, mode);
    session.rememberView(page, { mode, text });
    return text;
  }

  /** After an action: what changed since the last view (or the whole view when asked or when there is none). */
  async changes(session: BrowserSession, full: boolean): Promise<string> {
    const page = session.current;
    const last = session.lastView(page);
    const mode = last?.mode ?? 'markdown';
    const text = await this.view(session, page, mode);
    session.rememberView(page, { mode, text });
    return full || !last ? text : diffViews(last.text, text).text;
  }
}

/** The session's events since the last answer, one `[event]` line each. */
export function events(session: BrowserSession): string {
  return session
    .takeEvents()
    .map((event) => `[event] ${event}`)
    .join('\n');
}
