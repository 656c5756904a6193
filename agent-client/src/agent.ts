import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { FathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { defaultAgentConfig, loadAgentConfig, modelSettings, serverEnvironment } from './config.js';
import type { AgentConfig } from './config.js';
import { resolveHarness } from './harness.js';
import type { Harness } from './harness.js';
import { ModelClient } from './llm.js';
import type { LoopEvent, LoopResult } from './loop.js';
import { runMirothinker, runOpenAITools } from './loop.js';
import { Connections } from './mcp.js';
import { TraceWriter } from './trace.js';

export type Protocol = 'mirothinker' | 'openai-tools';

export interface TaskOptions {
  task: string;
  /** A file attached to the task, read as markdown into the first message. */
  file?: string;
  /** An agent config file (mcpServers shape); default: Fathom's servers in the mirothinker profile. */
  configPath?: string;
  /** Extra Fathom servers for the default config. */
  extras?: ('browser' | 'files')[];
  protocol: Protocol;
  /** One of MiroThinker's agent configs; default: agent.config in the config file, else chosen from the model name. */
  agentConfig?: string;
  /** Over the agent config's turn limit. */
  maxTurns?: number;
  /** Over the agent config's tool-result retention. */
  keep?: number;
  date?: string;
  tracePath?: string;
  toolTimeoutMs?: number;
  fathomBin: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onEvent?: (event: LoopEvent) => void;
  /** Called once the agent config in force is known (the live view says it). */
  onHarness?: (harness: Harness) => void;
  onServerEvent?: (event: { type: string; server: string; detail: string }) => void;
}

export function agentConfig(options: Pick<TaskOptions, 'configPath' | 'extras' | 'fathomBin' | 'env'>): AgentConfig {
  return options.configPath ? loadAgentConfig(options.configPath, options.env) : defaultAgentConfig({ fathomBin: options.fathomBin, ...(options.extras ? { extras: options.extras } : {}) });
}

/** A file given with a task, as text the model can read (documents through the files converters). */
export async function readAttachment(path: string): Promise<{ name: string; text: string }> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new FathomError('not_found', `Cannot read the attached file ${path}: ${error.code ?? error.message}`, { hint: 'Check the path given with --file.' });
  });
  const { convert, renderMarkdown } = await import('@fathom/files/convert');
  const document = await convert({ bytes, name: basename(path) });
  return { name: basename(path), text: renderMarkdown(document) };
}

/** The agent config a task runs under: the option, else the config file's agent.config, else the model's own. */
export function taskHarness(options: Pick<TaskOptions, 'agentConfig' | 'maxTurns' | 'keep'>, config: AgentConfig, model: string): Harness {
  const name = options.agentConfig ?? config.agent?.config;
  return resolveHarness({
    model,
    ...(name ? { name, nameFrom: options.agentConfig ? '--agent-config' : 'agent.config in the config file' } : {}),
    ...(options.maxTurns !== undefined ? { maxTurns: options.maxTurns } : {}),
    ...(options.keep !== undefined ? { keep: options.keep } : {}),
  });
}

/** One task from start to answer: servers connected in parallel and kept for the whole task. */
export async function runTask(options: TaskOptions): Promise<LoopResult> {
  const config = agentConfig(options);
  const settings = modelSettings(config, options.env ?? process.env);
  const attachment = options.file ? await readAttachment(options.file) : undefined;
  const connections = await Connections.open(config.mcpServers, {
    logger: options.logger,
    env: serverEnvironment(options.env ?? process.env),
    ...(options.onServerEvent ? { onEvent: options.onServerEvent } : {}),
  });
  const trace = options.tracePath ? TraceWriter.open(options.tracePath) : undefined;
  const model = new ModelClient(settings, { logger: options.logger });
  const harness = taskHarness(options, config, settings.model);
  options.onHarness?.(harness);
  try {
    const run = options.protocol === 'openai-tools' ? runOpenAITools : runMirothinker;
    return await run({
      task: options.task,
      ...(attachment ? { attachment } : {}),
      model,
      settings,
      connections,
      logger: options.logger,
      ...(trace ? { trace } : {}),
      maxTurns: harness.maxTurns,
      keep: harness.keep,
      harness,
      ...(options.date ? { date: options.date } : {}),
      ...(options.toolTimeoutMs ? { toolTimeoutMs: options.toolTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
  } finally {
    trace?.close();
    await connections.close();
  }
}
