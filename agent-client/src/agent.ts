import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { FathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { defaultAgentConfig, loadAgentConfig, modelSettings, serverEnvironment } from './config.js';
import type { AgentConfig, ServerEntry } from './config.js';
import { resolveHarness } from './harness.js';
import type { Harness } from './harness.js';
import { checkModelEndpoint } from './llm.js';
import type { LoopEvent, LoopResult } from './loop.js';
import { runMirothinker, runOpenAITools } from './loop.js';
import { Connections } from './mcp.js';
import { ObservedModelClient, TraceWriter } from './trace.js';
import type { ResponseEvent } from './trace.js';

export type Protocol = 'mirothinker' | 'openai-tools';

export interface TaskOptions {
  task: string;
  /** A file attached to the task, read as markdown into the first message. */
  file?: string;
  /** An agent config file (mcpServers shape); default: Fathom's servers in the mirothinker profile. */
  configPath?: string;
  /** Extra Fathom servers for the default config. */
  extras?: ('browser' | 'files')[];
  /** The servers to connect to instead of the config's (an eval's shared servers). */
  servers?: Record<string, ServerEntry>;
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
  /** Each model answer, thinking included (for `verboseLines`). */
  onResponse?: (event: ResponseEvent) => void;
  /** Called once the agent config in force is known (the live view says it). */
  onHarness?: (harness: Harness) => void;
  onServerEvent?: (event: { type: string; server: string; detail: string }) => void;
}

/** The config file, else Fathom's servers (serving `release`'s formats, when given). */
export function agentConfig(options: Pick<TaskOptions, 'configPath' | 'extras' | 'fathomBin' | 'env'> & { release?: string }): AgentConfig {
  if (options.configPath) return loadAgentConfig(options.configPath, options.env);
  return defaultAgentConfig({ fathomBin: options.fathomBin, ...(options.extras ? { extras: options.extras } : {}), ...(options.release ? { release: options.release } : {}) });
}

/** File types MiroThinker's process_input reads as they are, without a converter. */
const PLAIN_TEXT = new Set(['.py', '.txt', '.md', '.sh', '.yaml', '.yml', '.toml', '.csv']);

/**
 * A file given with a task, as MiroThinker's process_input attaches it: named by its absolute path
 * (the path the model can hand to upload_file_from_local_to_sandbox), text files as they are,
 * JSON re-indented, documents through the files converters.
 */
export async function readAttachment(path: string): Promise<{ name: string; text: string }> {
  const name = resolve(path);
  const bytes = await readFile(name).catch((error: NodeJS.ErrnoException) => {
    throw new FathomError('not_found', `Cannot read the attached file ${name}: ${error.code ?? error.message}`, { hint: 'Check the path given with --file, or the file named by the task.' });
  });
  const extension = extname(name).toLowerCase();
  if (PLAIN_TEXT.has(extension)) return { name, text: bytes.toString('utf8') };
  if (extension === '.json' || extension === '.jsonld') {
    try {
      return { name, text: JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2) };
    } catch (error) {
      throw new FathomError('invalid_argument', `The attached file ${name} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const { convert, renderMarkdown } = await import('@fathom/files/convert');
  const document = await convert({ bytes, name: basename(name) });
  return { name, text: renderMarkdown(document) };
}

/**
 * Checks the model endpoint once, before any work (GET {baseUrl}/models; see checkModelEndpoint),
 * and settles the model id: FATHOM_MODEL, else "model.model" in the config, else the one model the
 * endpoint serves. Returns the environment to run with (FATHOM_MODEL set) and, when the model was
 * taken from the endpoint or could not be checked, a line to show.
 */
export async function resolveModel(config: AgentConfig | undefined, env: NodeJS.ProcessEnv, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Promise<{ env: NodeJS.ProcessEnv; model: string; note?: string }> {
  const named = Boolean(env.FATHOM_MODEL || config?.model?.model);
  // modelSettings checks the base URL and wants a model id; without one, the endpoint's is taken below.
  const settings = modelSettings(config, named ? env : { ...env, FATHOM_MODEL: 'unset' });
  const check = await checkModelEndpoint({ baseUrl: settings.baseUrl, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}), ...(named ? { model: settings.model } : {}) }, options);
  const note = check.chosen ? `model ${check.model}: the only one ${settings.baseUrl} serves (FATHOM_MODEL is not set)` : check.warning ? `${check.warning}; going on (model requests are retried)` : undefined;
  return { env: { ...env, FATHOM_MODEL: check.model }, model: check.model, ...(note ? { note } : {}) };
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
  const base = agentConfig(options);
  const settings = modelSettings(base, options.env ?? process.env);
  const harness = taskHarness(options, base, settings.model);
  const config = options.configPath ? base : agentConfig({ ...options, release: harness.release });
  const attachment = options.file ? await readAttachment(options.file) : undefined;
  const connections = await Connections.open(options.servers ?? config.mcpServers, {
    logger: options.logger,
    env: serverEnvironment(options.env ?? process.env),
    ...(options.onServerEvent ? { onEvent: options.onServerEvent } : {}),
  });
  const trace = options.tracePath ? TraceWriter.open(options.tracePath) : undefined;
  const model = new ObservedModelClient(settings, { logger: options.logger, ...(trace ? { trace } : {}), ...(options.onResponse ? { onResponse: options.onResponse } : {}) });
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
