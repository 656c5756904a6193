import { mirothinkerPrompts } from '@fathom/core';
import { jsonrepair } from 'jsonrepair';
import type { ToolCall } from '../types.js';

/** MiroThinker's pattern (compiled with re.DOTALL), every block of a turn. */
const TOOL_CALL =
  /<use_mcp_tool>\s*<server_name>(.*?)<\/server_name>\s*<tool_name>(.*?)<\/tool_name>\s*<arguments>\s*([\s\S]*?)\s*<\/arguments>\s*<\/use_mcp_tool>/gs;

export interface ParsedTurn {
  calls: ToolCall[];
  /** MCP tags present but no well-formed block, or a block whose arguments are no JSON object even after repair. */
  malformed: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      return JSON.parse(jsonrepair(text));
    } catch {
      return undefined;
    }
  }
}

/** The arguments as an object with null-valued keys dropped, or undefined when they cannot be read. */
export function parseArguments(text: string): Record<string, unknown> | undefined {
  const value = parseJson(text.trim());
  if (!isObject(value)) return undefined;
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== null));
}

export function hasMcpTags(text: string): boolean {
  return (mirothinkerPrompts().mcp_tags as string[]).some((tag) => text.includes(tag));
}

export function parseToolCalls(text: string): ParsedTurn {
  const calls: ToolCall[] = [];
  let unreadable = false;
  for (const [, server = '', tool = '', args = ''] of text.matchAll(TOOL_CALL)) {
    const parsed = parseArguments(args);
    if (parsed) calls.push({ server: server.trim(), tool: tool.trim(), arguments: parsed });
    else unreadable = true;
  }
  return { calls, malformed: unreadable || (calls.length === 0 && hasMcpTags(text)) };
}
