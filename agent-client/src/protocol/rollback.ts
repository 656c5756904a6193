import { mirothinkerPrompts } from '@fathom/core';
import type { ToolCall, ToolOutcome } from '../types.js';

export interface TurnToCheck {
  text: string;
  calls: ToolCall[];
  malformed: boolean;
}

/** What ran without failing, keyed by `searchKey` and `scrapeKey`. */
export interface RunHistory {
  succeededQueries: Set<string>;
  succeededScrapes: Set<string>;
}

export function searchKey(call: ToolCall): string | undefined {
  const query = call.arguments.q;
  return call.tool === 'google_search' && typeof query === 'string' ? query : undefined;
}

export function scrapeKey(call: ToolCall): string | undefined {
  const { url, info_to_extract: info } = call.arguments;
  return call.tool === 'scrape_and_extract_info' && typeof url === 'string' ? `${url}\n${String(info ?? '')}` : undefined;
}

function repeatedCall(calls: ToolCall[], history: RunHistory): string | undefined {
  const queries = new Set(history.succeededQueries);
  const scrapes = new Set(history.succeededScrapes);
  for (const call of calls) {
    const query = searchKey(call);
    if (query !== undefined) {
      if (queries.has(query)) return `repeated google_search query: ${query}`;
      queries.add(query);
    }
    const scrape = scrapeKey(call);
    if (scrape !== undefined) {
      if (scrapes.has(scrape)) return `repeated scrape_and_extract_info: ${scrape.replace('\n', ' / ')}`;
      scrapes.add(scrape);
    }
  }
  return undefined;
}

/**
 * Why the turn must be resampled before any tool runs, or undefined. Refusal phrases count only in
 * a turn without tool calls, as in MiroThinker's orchestrator; a call repeated within the turn
 * counts as repeated.
 */
export function rollbackReason(turn: TurnToCheck, history: RunHistory, options: { allowRepeats?: boolean } = {}): string | undefined {
  if (turn.malformed) return 'MCP tags present but no well-formed tool call could be parsed';
  if (turn.calls.length === 0) {
    const refusal = (mirothinkerPrompts().refusal_keywords as string[]).find((keyword) => turn.text.includes(keyword));
    return refusal === undefined ? undefined : `refusal phrase: ${refusal}`;
  }
  // At the rollback limit MiroThinker lets a repeated query run rather than end the attempt.
  return options.allowRepeats ? undefined : repeatedCall(turn.calls, history);
}

/**
 * Result texts of a call the server could not run. MiroThinker's Python servers (FastMCP) write
 * "Unknown tool: x" and "Error executing tool x: ..." (argument validation included); Fathom's
 * servers write `Unknown tool "x". ...`, "Invalid arguments for x:" and "x failed with an internal error:".
 */
function serverFailure(tool: string, text: string): boolean {
  return (
    text.startsWith('Unknown tool') ||
    text.startsWith('Error executing tool') ||
    text.startsWith(`Invalid arguments for ${tool}:`) ||
    text.startsWith(`${tool} failed with an internal error:`)
  );
}

/** MiroThinker reads the list with dict.get('organic', []): a result without one counts as empty. */
function emptySearch(text: string): boolean {
  let result: unknown;
  try {
    result = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return false;
  const organic = (result as Record<string, unknown>).organic;
  return organic === undefined || (Array.isArray(organic) && organic.length === 0);
}

/**
 * Why the turn must be resampled after its tools ran, or undefined. The error flag is not
 * consulted: MiroThinker's ToolManager hands on a result the server flagged as an error like any other.
 */
export function resultRollbackReason(outcome: Pick<ToolOutcome, 'call' | 'text'>): string | undefined {
  const { call, text } = outcome;
  if (serverFailure(call.tool, text)) return `${call.tool} could not run: ${text.slice(0, 200)}`;
  if (call.tool === 'google_search' && emptySearch(text)) return 'google_search returned no organic results';
  return undefined;
}
