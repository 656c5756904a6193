import { readFileSync } from 'node:fs';

/**
 * The protocol data MiroThinker was trained on, shipped with Fathom verbatim: every tool's
 * description and input schema (in the original key order), and every fixed prompt text.
 */

export interface MirothinkerTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export interface MirothinkerServer {
  server: string;
  tools: MirothinkerTool[];
}

const PROTOCOL_DIR = new URL('../protocol/', import.meta.url);

let tools: MirothinkerServer[] | undefined;
let prompts: Record<string, unknown> | undefined;

export function mirothinkerServers(): MirothinkerServer[] {
  tools ??= (JSON.parse(readFileSync(new URL('mirothinker-tools.json', PROTOCOL_DIR), 'utf8')) as { servers: MirothinkerServer[] }).servers;
  return tools;
}

export function mirothinkerTool(server: string, name: string): MirothinkerTool {
  const tool = mirothinkerServers()
    .find((entry) => entry.server === server)
    ?.tools.find((entry) => entry.name === name);
  if (!tool) throw new Error(`No MiroThinker tool ${server}/${name}`);
  return tool;
}

export function mirothinkerPrompts(): Record<string, unknown> {
  prompts ??= JSON.parse(readFileSync(new URL('mirothinker-prompts.json', PROTOCOL_DIR), 'utf8')) as Record<string, unknown>;
  return prompts;
}
