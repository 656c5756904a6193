import type { ServerTools, ToolCall } from '../types.js';

/** One `<use_mcp_tool>` block's server and tool tags, as MiroThinker's parser reads them. */
const BLOCK = /(<use_mcp_tool>\s*<server_name>)(.*?)(<\/server_name>\s*<tool_name>)(.*?)(<\/tool_name>)/gs;

const PYTHON_ALIASES = new Set(['python', 'python_code']);

/**
 * The turn's text with the names models get wrong put right, before it is parsed and kept in the
 * history (MiroThinker's fix_server_name_in_text): tool `python` or `python_code` becomes
 * `run_python_code` where only that exists, and a server name is corrected when the tool belongs
 * to exactly one server.
 */
export function correctToolNames(text: string, servers: ServerTools[]): string {
  const owners = new Map<string, string[]>();
  for (const server of servers) for (const tool of server.tools) owners.set(tool.name, [...(owners.get(tool.name) ?? []), server.server]);
  return text.replace(BLOCK, (whole, open: string, server: string, middle: string, tool: string, close: string) => {
    let name = tool.trim();
    if (PYTHON_ALIASES.has(name) && !owners.has(name) && owners.has('run_python_code')) name = 'run_python_code';
    const found = owners.get(name);
    const fixedServer = found?.length === 1 && !found.includes(server.trim()) ? found[0]! : server;
    const fixedTool = name === tool.trim() ? tool : name;
    return fixedServer === server && fixedTool === tool ? whole : `${open}${fixedServer}${middle}${fixedTool}${close}`;
  });
}

/** The argument names models get wrong most often, put right as MiroThinker's tool executor does. */
export function fixArguments(call: ToolCall): ToolCall {
  const args = { ...call.arguments };
  if (call.tool === 'scrape_and_extract_info' && args.info_to_extract === undefined) {
    const wrong = ['description', 'introduction'].find((name) => args[name] !== undefined);
    if (wrong) {
      args.info_to_extract = args[wrong];
      delete args[wrong];
    }
  }
  if (call.tool === 'run_python_code' && args.code !== undefined && args.code_block === undefined) {
    args.code_block = args.code;
    delete args.code;
  }
  // MiroThinker adds it to run_python_code only; Fathom's other sandbox tools take the same fallback.
  if (call.server === 'tool-python' && call.tool !== 'create_sandbox' && args.sandbox_id === undefined) args.sandbox_id = 'default';
  return { ...call, arguments: args };
}
