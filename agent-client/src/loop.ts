import { errorMessage, mirothinkerPrompts } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { ModelClient } from './llm.js';
import type { Connections } from './mcp.js';
import {
  applyRetention,
  estimateContext,
  firstUserMessage,
  lastBoxed,
  parseToolCalls,
  renderSystemPrompt,
  resultRollbackReason,
  rollbackReason,
  stripThinking,
  toolResultsMessage,
} from './protocol/index.js';
import type { TraceWriter } from './trace.js';
import type { ChatMessage, ModelSettings, ToolCall, ToolOutcome } from './types.js';

export interface LoopOptions {
  task: string;
  attachment?: { name: string; text: string };
  model: ModelClient;
  settings: ModelSettings;
  connections: Connections;
  logger: Logger;
  trace?: TraceWriter;
  /** Turn limit (MiroThinker: 600 for v1.0, 400 for v1.5, 300 for 1.7). */
  maxTurns: number;
  /** Tool results kept in full (recency-based retention); -1 keeps them all. */
  keep: number;
  /** System prompt date, YYYY-MM-DD (default: today). */
  date?: string;
  /** Tools left out of the prompt (default: MiroThinker's blacklist). */
  hiddenTools?: string[];
  toolTimeoutMs?: number;
  signal?: AbortSignal;
  /** Live view: called as the run goes. */
  onEvent?: (event: LoopEvent) => void;
}

export type LoopEvent =
  | { type: 'turn'; turn: number; tokens: number }
  | { type: 'tool'; turn: number; call: ToolCall; outcome: ToolOutcome }
  | { type: 'rollback'; turn: number; reason: string }
  | { type: 'summary'; reason: string }
  | { type: 'answer'; answer: string | undefined };

export interface LoopResult {
  answer?: string;
  /** Why the loop ended: no tool call, turn limit, context full, too many rollbacks, cancelled, model failure. */
  stop: 'answered' | 'turn_limit' | 'context_full' | 'rollbacks' | 'cancelled' | 'model_error';
  turns: number;
  toolCalls: number;
  tokens: number;
  ms: number;
  error?: string;
  messages: ChatMessage[];
}

const MAX_CONSECUTIVE_ROLLBACKS = 5;

/** Why the loop must stop before another turn, if it must. */
function limitReached(options: LoopOptions, turns: number): 'cancelled' | 'turn_limit' | undefined {
  if (options.signal?.aborted) return 'cancelled';
  return turns >= options.maxTurns ? 'turn_limit' : undefined;
}

/** The loop MiroThinker was trained with: text tool calls, results as user messages, a summary at the end. */
export async function runMirothinker(options: LoopOptions): Promise<LoopResult> {
  const started = Date.now();
  const prompts = mirothinkerPrompts() as Record<string, string>;
  const { model, settings, connections, trace } = options;
  const system = renderSystemPrompt(connections.servers(), {
    date: options.date ?? new Date().toISOString().slice(0, 10),
    ...(options.hiddenTools ? { hiddenTools: options.hiddenTools } : {}),
  });
  const messages: ChatMessage[] = [
    { role: 'system', content: system },
    { role: 'user', content: firstUserMessage(options.task, options.attachment) },
  ];
  trace?.write({ type: 'start', task: options.task, model: settings.model, system });
  const history = { succeededQueries: new Set<string>(), succeededScrapes: new Set<string>() };
  let tokens = 0;
  let toolCalls = 0;
  let turns = 0;
  let rollbacks = 0;
  let lastBoxedSeen: string | undefined;
  let stop: LoopResult['stop'] = 'answered';
  let error: string | undefined;

  const ask = async (list: ChatMessage[], turn: number) => {
    trace?.write({ type: 'request', turn, messages: list.length, estimate: estimateContext(list, settings.maxTokens) });
    const completion = await model.complete(list, { ...(options.signal ? { signal: options.signal } : {}) });
    tokens += completion.usage?.total_tokens ?? 0;
    trace?.write({ type: 'response', turn, content: completion.content, reasoning: completion.reasoning, finishReason: completion.finishReason, usage: completion.usage, attempts: completion.attempts, ms: completion.ms });
    return completion;
  };

  try {
    while (true) {
      const limit = limitReached(options, turns);
      if (limit) {
        stop = limit;
        break;
      }
      const request = applyRetention(messages, options.keep);
      if (estimateContext(request, settings.maxTokens) >= settings.contextTokens) {
        stop = 'context_full';
        // The last tool call and its result would not fit: drop them and go to the summary.
        if (messages.length > 3 && messages.at(-1)?.role === 'user') messages.splice(-2, 2);
        break;
      }
      turns++;
      options.onEvent?.({ type: 'turn', turn: turns, tokens });
      const completion = await ask(request, turns);
      const text = completion.content;
      const boxed = lastBoxed(text);
      if (boxed !== undefined) lastBoxedSeen = boxed;
      const parsed = parseToolCalls(text);
      parsed.calls = parsed.calls.map(fixArguments);
      const reason = rollbackReason({ text, calls: parsed.calls, malformed: parsed.malformed }, history);
      if (reason) {
        rollbacks++;
        trace?.write({ type: 'rollback', turn: turns, reason });
        options.onEvent?.({ type: 'rollback', turn: turns, reason });
        if (rollbacks >= MAX_CONSECUTIVE_ROLLBACKS) {
          stop = 'rollbacks';
          messages.push({ role: 'assistant', content: text });
          break;
        }
        turns--;
        continue;
      }
      messages.push({ role: 'assistant', content: text });
      if (!parsed.calls.length) break;
      const outcomes = await Promise.all(
        parsed.calls.map(async (call) => {
          trace?.write({ type: 'tool_call', turn: turns, call });
          const outcome = await connections.call(call, { ...(options.toolTimeoutMs ? { timeoutMs: options.toolTimeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) });
          trace?.write({ type: 'tool_result', turn: turns, server: call.server, tool: call.tool, isError: outcome.isError, chars: outcome.text.length, ms: outcome.ms, text: outcome.text.slice(0, 20_000) });
          options.onEvent?.({ type: 'tool', turn: turns, call, outcome });
          return outcome;
        }),
      );
      toolCalls += outcomes.length;
      for (const outcome of outcomes) remember(history, outcome);
      const resultReason = outcomes.map((outcome) => resultRollbackReason(outcome)).find(Boolean);
      if (resultReason && rollbacks + 1 < MAX_CONSECUTIVE_ROLLBACKS) {
        rollbacks++;
        messages.pop();
        trace?.write({ type: 'rollback', turn: turns, reason: resultReason });
        options.onEvent?.({ type: 'rollback', turn: turns, reason: resultReason });
        turns--;
        continue;
      }
      rollbacks = 0;
      messages.push({ role: 'user', content: toolResultsMessage(outcomes.map((outcome) => ({ server: outcome.call.server, tool: outcome.call.tool, text: outcome.text, isError: outcome.isError }))) });
    }

    let answer: string | undefined;
    if (stop !== 'cancelled') {
      const summaryPrompt = prompts.summary_prompt_main!.replace('{task}', options.task);
      messages.push({ role: 'user', content: summaryPrompt });
      trace?.write({ type: 'summary', reason: stop });
      options.onEvent?.({ type: 'summary', reason: stop });
      const completion = await ask(applyRetention(messages, options.keep), turns + 1);
      messages.push({ role: 'assistant', content: completion.content });
      answer = lastBoxed(completion.content) ?? lastBoxedSeen;
    }
    trace?.write({ type: 'answer', answer });
    options.onEvent?.({ type: 'answer', answer });
    return { ...(answer !== undefined ? { answer } : {}), stop, turns, toolCalls, tokens, ms: Date.now() - started, messages };
  } catch (failure) {
    error = errorMessage(failure);
    options.logger.warn('agent run failed', { error });
    trace?.write({ type: 'error', error });
    const answer = lastBoxedSeen;
    return {
      ...(answer !== undefined ? { answer } : {}),
      stop: options.signal?.aborted ? 'cancelled' : 'model_error',
      turns,
      toolCalls,
      tokens,
      ms: Date.now() - started,
      error,
      messages,
    };
  } finally {
    trace?.write({ type: 'end', turns, toolCalls, tokens, ms: Date.now() - started });
  }
}

/** The argument names models get wrong most often, put right as MiroThinker's tool executor does. */
export function fixArguments(call: ToolCall): ToolCall {
  const args = { ...call.arguments };
  if (call.tool === 'scrape_and_extract_info') {
    for (const wrong of ['description', 'introduction']) {
      if (args[wrong] !== undefined && args.info_to_extract === undefined) {
        args.info_to_extract = args[wrong];
        delete args[wrong];
      }
    }
  }
  if (call.tool === 'run_python_code' && args.code !== undefined && args.code_block === undefined) {
    args.code_block = args.code;
    delete args.code;
  }
  if (call.server === 'tool-python' && call.tool !== 'create_sandbox' && args.sandbox_id === undefined) args.sandbox_id = 'default';
  return { ...call, arguments: args };
}

/** What ran successfully, so that running it again can be rolled back. */
function remember(history: { succeededQueries: Set<string>; succeededScrapes: Set<string> }, outcome: ToolOutcome): void {
  if (outcome.isError) return;
  const args = outcome.call.arguments;
  if (outcome.call.tool === 'google_search' && typeof args.q === 'string') history.succeededQueries.add(args.q);
  if (outcome.call.tool === 'scrape_and_extract_info' && typeof args.url === 'string') {
    history.succeededScrapes.add(`${args.url}\n${String(args.info_to_extract ?? '')}`);
  }
}

/** Native function calling, for models trained on a `tools` field: the same servers serve other models. */
export async function runOpenAITools(options: LoopOptions): Promise<LoopResult> {
  const started = Date.now();
  const prompts = mirothinkerPrompts() as Record<string, string>;
  const { model, connections, trace } = options;
  const names = new Map<string, { server: string; tool: string }>();
  const tools = connections.servers().flatMap((server) =>
    server.tools.map((tool) => {
      const name = `${server.server}__${tool.name}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
      names.set(name, { server: server.server, tool: tool.name });
      return { type: 'function', function: { name, description: tool.description.trim(), parameters: tool.inputSchema } };
    }),
  );
  const messages: ChatMessage[] = [
    { role: 'system', content: `${prompts.general_objective}${prompts.main_objective}`.trim() },
    { role: 'user', content: firstUserMessage(options.task, options.attachment) },
  ];
  trace?.write({ type: 'start', task: options.task, model: options.settings.model, protocol: 'openai-tools' });
  let turns = 0;
  let toolCalls = 0;
  let tokens = 0;
  let answer: string | undefined;
  let stop: LoopResult['stop'] = 'answered';
  try {
    while (true) {
      const limit = limitReached(options, turns);
      if (limit) {
        stop = limit;
        break;
      }
      turns++;
      options.onEvent?.({ type: 'turn', turn: turns, tokens });
      trace?.write({ type: 'request', turn: turns, messages: messages.length });
      const completion = await model.complete(applyRetention(messages, options.keep), { tools, ...(options.signal ? { signal: options.signal } : {}) });
      tokens += completion.usage?.total_tokens ?? 0;
      trace?.write({ type: 'response', turn: turns, content: completion.content, toolCalls: completion.toolCalls, finishReason: completion.finishReason, usage: completion.usage });
      const calls = completion.toolCalls ?? [];
      messages.push({ role: 'assistant', content: completion.content, ...(calls.length ? { tool_calls: calls } : {}) });
      if (!calls.length) {
        answer = lastBoxed(completion.content) ?? (stripThinking(completion.content) || undefined);
        break;
      }
      const outcomes = await Promise.all(
        calls.map(async (call) => {
          const target = names.get(call.function.name);
          let args: Record<string, unknown> = {};
          try {
            args = JSON.parse(call.function.arguments || '{}') as Record<string, unknown>;
          } catch {
            // answered below as a tool error
          }
          const toolCall: ToolCall = { server: target?.server ?? '', tool: target?.tool ?? call.function.name, arguments: args, id: call.id };
          const outcome = await connections.call(toolCall, { ...(options.toolTimeoutMs ? { timeoutMs: options.toolTimeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) });
          trace?.write({ type: 'tool_result', turn: turns, server: toolCall.server, tool: toolCall.tool, isError: outcome.isError, chars: outcome.text.length, ms: outcome.ms });
          options.onEvent?.({ type: 'tool', turn: turns, call: toolCall, outcome });
          return { id: call.id, outcome };
        }),
      );
      toolCalls += outcomes.length;
      for (const { id, outcome } of outcomes) messages.push({ role: 'tool', tool_call_id: id, content: toolResultsMessage([{ server: outcome.call.server, tool: outcome.call.tool, text: outcome.text, isError: outcome.isError }]) });
    }
    trace?.write({ type: 'answer', answer });
    options.onEvent?.({ type: 'answer', answer });
    return { ...(answer !== undefined ? { answer } : {}), stop, turns, toolCalls, tokens, ms: Date.now() - started, messages };
  } catch (failure) {
    const error = errorMessage(failure);
    trace?.write({ type: 'error', error });
    return { stop: options.signal?.aborted ? 'cancelled' : 'model_error', turns, toolCalls, tokens, ms: Date.now() - started, error, messages };
  } finally {
    trace?.write({ type: 'end', turns, toolCalls, tokens, ms: Date.now() - started });
  }
}
