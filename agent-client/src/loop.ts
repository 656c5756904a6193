import { errorMessage, isFathomError, mirothinkerPrompts, stripThinking } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { ModelClient } from './llm.js';
import type { Connections } from './mcp.js';
import { attemptsOf } from './harness.js';
import type { Harness } from './harness.js';
import {
  DEFAULT_HIDDEN_TOOLS,
  applyRetention,
  correctToolNames,
  estimateContext,
  fillTemplate,
  firstUserMessage,
  fixArguments,
  lastBoxed,
  localDate,
  parseToolCalls,
  pyStrip,
  renderSystemPrompt,
  resultRollbackReason,
  rollbackReason,
  toolResultsMessage,
} from './protocol/index.js';
import type { TraceWriter } from './trace.js';
import type { ChatMessage, Completion, LoopEvent, ModelSettings, ToolCall, ToolOutcome } from './types.js';

export type { LoopEvent } from './types.js';

/** The parts of a MiroThinker agent config the loop follows (see harness.ts). */
export type LoopHarness = Pick<Harness, 'compressLimit' | 'retryWithSummary' | 'finalAnswerRetries' | 'hiddenTools' | 'maxConsecutiveRollbacks' | 'extraAttemptsBuffer'>;

export interface LoopOptions {
  task: string;
  attachment?: { name: string; text: string };
  model: ModelClient;
  settings: ModelSettings;
  connections: Connections;
  logger: Logger;
  trace?: TraceWriter;
  /** Turn limit per attempt (MiroThinker: 600 for v1.0, 200-400 for v1.5, 200-300 for 1.7). */
  maxTurns: number;
  /** Tool results kept in full (recency-based retention); -1 keeps them all. */
  keep: number;
  /** Attempts and answer retries; default: one attempt, as mirothinker_v1.0. */
  harness?: Partial<LoopHarness>;
  /** System prompt date, YYYY-MM-DD (default: today, local time). */
  date?: string;
  toolTimeoutMs?: number;
  signal?: AbortSignal;
  /** Live view: called as the run goes. */
  onEvent?: (event: LoopEvent) => void;
}

export type StopReason = 'answered' | 'turn_limit' | 'context_full' | 'rollbacks' | 'cancelled' | 'model_error';

/** One attempt of a run, as the trace and the live view report it. */
export interface AttemptRecord {
  attempt: number;
  stop: StopReason;
  turns: number;
  toolCalls: number;
  answer?: string;
  /** Why the attempt ended, in words. */
  ended: string;
  /** The failure-experience summary carried into the next attempt. */
  failureSummary?: string;
}

export interface LoopResult {
  answer?: string;
  /** Why the last attempt's loop ended: no tool call, turn limit, context full, too many rollbacks, cancelled, model failure. */
  stop: StopReason;
  /** Totals over every attempt. */
  turns: number;
  toolCalls: number;
  tokens: number;
  ms: number;
  error?: string;
  /** The last attempt's messages. */
  messages: ChatMessage[];
  attempts: AttemptRecord[];
}

const DEFAULT_LOOP_HARNESS: LoopHarness = {
  compressLimit: 0,
  retryWithSummary: true,
  finalAnswerRetries: 1,
  hiddenTools: DEFAULT_HIDDEN_TOOLS,
  maxConsecutiveRollbacks: 5,
  extraAttemptsBuffer: 200,
};

/** Model calls that fail in a row (after the client's own retries) before the run ends in error. */
const MODEL_TURN_RETRIES = 3;

/** Why the loop must stop before another turn, if it must. */
function limitReached(options: Pick<LoopOptions, 'signal' | 'maxTurns'>, turns: number): 'cancelled' | 'turn_limit' | undefined {
  if (options.signal?.aborted) return 'cancelled';
  return turns >= options.maxTurns ? 'turn_limit' : undefined;
}

/** A model failure worth asking again: the endpoint answered badly or not in time, not a refusal of the request. */
function transient(error: unknown): boolean {
  return isFathomError(error) && (error.code === 'unavailable' || error.code === 'timeout');
}

/** What one attempt's main loop leaves for answer generation. */
interface AttemptLoop {
  stop: StopReason;
  turns: number;
  toolCalls: number;
  messages: ChatMessage[];
  /** Boxed answers seen in turns, the last one last. */
  intermediate: string[];
}

type Ask = (list: ChatMessage[], turn: number, purpose?: string) => Promise<Completion>;

/**
 * The loop MiroThinker was trained and evaluated with: text tool calls, results as user messages,
 * a summary at the end, and with context management (context_compress_limit > 0) further
 * attempts, each told what earlier ones found (answer_generator.py and common_benchmark.py).
 */
export async function runMirothinker(options: LoopOptions): Promise<LoopResult> {
  const started = Date.now();
  const harness: LoopHarness = { ...DEFAULT_LOOP_HARNESS, ...options.harness };
  const prompts = mirothinkerPrompts() as Record<string, string>;
  const { model, settings, connections, trace } = options;
  const system = renderSystemPrompt(connections.servers(), { date: options.date ?? localDate(), hiddenTools: harness.hiddenTools });
  const of = attemptsOf(harness);
  trace?.write({ type: 'start', task: options.task, model: settings.model, system, attempts: of });
  const totals = { turns: 0, toolCalls: 0, tokens: 0 };
  const attempts: AttemptRecord[] = [];
  const experiences: string[] = [];
  let messages: ChatMessage[] = [];
  let stop: StopReason = 'answered';
  let answer: string | undefined;
  let error: string | undefined;

  const ask: Ask = async (list, turn, purpose) => {
    const request = applyRetention(list, options.keep);
    trace?.write({ type: 'request', turn, messages: request.length, estimate: estimateContext(request, settings.maxTokens), ...(purpose ? { purpose } : {}) });
    const completion = await model.complete(request, { ...(options.signal ? { signal: options.signal } : {}) });
    totals.tokens += completion.usage?.total_tokens ?? 0;
    trace?.write({ type: 'response', turn, content: completion.content, reasoning: completion.reasoning, finishReason: completion.finishReason, usage: completion.usage, attempts: completion.attempts, ms: completion.ms });
    return completion;
  };

  try {
    for (let attempt = 1; attempt <= of; attempt++) {
      const final = attempt === of;
      let task = options.task;
      if (experiences.length) {
        task += prompts.failure_experience_header!;
        experiences.forEach((summary, index) => {
          task += fillTemplate(prompts.failure_experience_item!, { attempt_number: index + 1, failure_summary: summary });
        });
        task += prompts.failure_experience_footer!;
      }
      if (of > 1) {
        trace?.write({ type: 'attempt', attempt, of, task });
        options.onEvent?.({ type: 'attempt', attempt, of });
      }
      const loop = await mainLoop(options, harness, system, task, ask, totals);
      messages = loop.messages;
      stop = loop.stop;
      if (stop === 'cancelled') break;
      const record = await finishAttempt({ attempt, final, task, loop, harness, ask, onEvent: options.onEvent, trace });
      attempts.push(record);
      if (record.failureSummary) experiences.push(record.failureSummary);
      if (of > 1) {
        const event = { attempt, of, ended: record.ended, failureSummary: record.failureSummary !== undefined, ...(record.answer !== undefined ? { answer: record.answer } : {}) };
        trace?.write({ type: 'attempt_end', ...event, ...(record.failureSummary ? { summaryText: record.failureSummary } : {}) });
        options.onEvent?.({ type: 'attempt_end', ...event });
      }
      if (record.answer !== undefined) {
        answer = record.answer;
        break;
      }
    }
  } catch (failure) {
    error = errorMessage(failure);
    stop = options.signal?.aborted ? 'cancelled' : 'model_error';
    options.logger.warn('agent run failed', { error });
    trace?.write({ type: 'error', error });
  }
  trace?.write({ type: 'answer', answer });
  options.onEvent?.({ type: 'answer', answer });
  trace?.write({ type: 'end', turns: totals.turns, toolCalls: totals.toolCalls, tokens: totals.tokens, ms: Date.now() - started, stop, attempts: attempts.length });
  return { ...(answer !== undefined ? { answer } : {}), stop, ...totals, ms: Date.now() - started, ...(error ? { error } : {}), messages, attempts };
}

const STOP_WORDS: Record<StopReason, string> = {
  answered: 'the model stopped calling tools',
  turn_limit: 'turn limit reached',
  context_full: 'context full',
  rollbacks: 'too many rollbacks',
  cancelled: 'cancelled',
  model_error: 'model failure',
};

/**
 * Answer generation after an attempt's loop (generate_and_finalize_answer): with context
 * management an attempt that reached its limit skips it unless it is the last, and only the last
 * attempt (or a run without context management) falls back to a turn's boxed answer.
 */
async function finishAttempt(step: {
  attempt: number;
  final: boolean;
  task: string;
  loop: AttemptLoop;
  harness: LoopHarness;
  ask: Ask;
  onEvent: LoopOptions['onEvent'];
  trace: TraceWriter | undefined;
}): Promise<AttemptRecord> {
  const { attempt, final, task, loop, harness, ask, trace } = step;
  const base = { attempt, stop: loop.stop, turns: loop.turns, toolCalls: loop.toolCalls };
  const managed = harness.compressLimit > 0;
  const reachedLimit = loop.stop === 'turn_limit' || loop.stop === 'context_full';
  if (managed && reachedLimit && !final) {
    trace?.write({ type: 'summary', reason: loop.stop, skipped: true });
    const summary = harness.retryWithSummary ? await failureSummary(loop.messages, ask, loop.turns) : undefined;
    return { ...base, ended: `${STOP_WORDS[loop.stop]}: answer generation skipped (no blind guess)`, ...(summary ? { failureSummary: summary } : {}) };
  }
  trace?.write({ type: 'summary', reason: loop.stop });
  step.onEvent?.({ type: 'summary', reason: loop.stop });
  let answer = await finalAnswer(loop.messages, task, harness.finalAnswerRetries, ask, loop.turns);
  let ended = answer !== undefined ? 'boxed answer' : 'no boxed answer';
  if (answer === undefined && (!managed || final) && loop.intermediate.length) {
    answer = loop.intermediate.at(-1);
    ended = 'no boxed answer in the summary, the last boxed answer of a turn used';
  }
  const summary = answer === undefined && managed && !final && harness.retryWithSummary ? await failureSummary(loop.messages, ask, loop.turns) : undefined;
  return { ...base, ended: `${STOP_WORDS[loop.stop]}, ${ended}`, ...(answer !== undefined ? { answer } : {}), ...(summary ? { failureSummary: summary } : {}) };
}

/** One attempt's turns, until the model stops calling tools or a limit is reached (orchestrator.py's run_main_agent). */
async function mainLoop(options: LoopOptions, harness: LoopHarness, system: string, task: string, ask: Ask, totals: { turns: number; toolCalls: number }): Promise<AttemptLoop> {
  const { connections, trace, settings } = options;
  const servers = connections.servers();
  const messages: ChatMessage[] = [
    { role: 'system', content: system },
    { role: 'user', content: firstUserMessage(task, options.attachment) },
  ];
  const history = { succeededQueries: new Set<string>(), succeededScrapes: new Set<string>() };
  const intermediate: string[] = [];
  const maxTries = options.maxTurns + harness.extraAttemptsBuffer;
  let turns = 0;
  let tries = 0;
  let toolCalls = 0;
  let rollbacks = 0;
  let modelFailures = 0;
  let stop: StopReason = 'answered';
  /** The turn is asked again: it does not count. */
  const redo = () => {
    turns--;
    totals.turns--;
  };
  const rollback = (reason: string) => {
    rollbacks++;
    trace?.write({ type: 'rollback', turn: turns, reason });
    options.onEvent?.({ type: 'rollback', turn: turns, reason });
    redo();
  };

  while (true) {
    const limit = limitReached(options, turns);
    if (limit) {
      stop = limit;
      break;
    }
    if (tries >= maxTries) {
      stop = 'rollbacks';
      break;
    }
    if (estimateContext(applyRetention(messages, options.keep), settings.maxTokens) >= settings.contextTokens) {
      stop = 'context_full';
      // The last tool call and its result would not fit: drop them and go to the summary.
      if (messages.length > 3 && messages.at(-1)?.role === 'user') messages.splice(-2, 2);
      break;
    }
    turns++;
    tries++;
    totals.turns++;
    options.onEvent?.({ type: 'turn', turn: turns, tokens: 0 });
    let text: string;
    try {
      text = (await ask(messages, turns)).content;
    } catch (failure) {
      if (options.signal?.aborted || !transient(failure) || ++modelFailures >= MODEL_TURN_RETRIES) throw failure;
      const reason = errorMessage(failure);
      trace?.write({ type: 'model_retry', turn: turns, reason });
      options.onEvent?.({ type: 'model_retry', turn: turns, reason });
      redo();
      continue;
    }
    modelFailures = 0;
    if (!text) {
      // MiroThinker asks again for the same turn when the model returns nothing.
      redo();
      continue;
    }
    text = correctToolNames(text, servers);
    const boxed = lastBoxed(text);
    if (boxed !== undefined) intermediate.push(boxed);
    const parsed = parseToolCalls(text);
    parsed.calls = parsed.calls.map(fixArguments);
    const atLimit = rollbacks >= harness.maxConsecutiveRollbacks - 1;
    const reason = rollbackReason({ text, calls: parsed.calls, malformed: parsed.malformed }, history, { allowRepeats: atLimit });
    if (reason) {
      if (atLimit) {
        stop = 'rollbacks';
        messages.push({ role: 'assistant', content: text });
        break;
      }
      rollback(reason);
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
    totals.toolCalls += outcomes.length;
    for (const outcome of outcomes) remember(history, outcome);
    const resultReason = outcomes.map((outcome) => resultRollbackReason(outcome)).find(Boolean);
    if (resultReason && rollbacks < harness.maxConsecutiveRollbacks - 1) {
      messages.pop();
      rollback(resultReason);
      continue;
    }
    rollbacks = 0;
    messages.push({ role: 'user', content: toolResultsMessage(outcomes.map((outcome) => ({ server: outcome.call.server, tool: outcome.call.tool, text: outcome.text, isError: outcome.isError }))) });
  }
  return { stop, turns, toolCalls, messages, intermediate };
}

/**
 * The summary request and its boxed answer (generate_final_answer_with_retries): the last
 * message, when it is a tool result, gives way to the summary prompt; a reply without a boxed
 * answer is asked again, `retries` requests in all.
 */
async function finalAnswer(messages: ChatMessage[], task: string, retries: number, ask: Ask, turns: number): Promise<string | undefined> {
  const prompts = mirothinkerPrompts() as Record<string, string>;
  if (messages.at(-1)?.role === 'user') messages.pop();
  messages.push({ role: 'user', content: fillTemplate(prompts.summary_prompt_main!, { task }) });
  let failure: unknown;
  for (let retry = 0; retry < retries; retry++) {
    let text = '';
    try {
      text = (await ask(messages, turns + 1 + retry, 'final answer')).content;
      failure = undefined;
    } catch (error) {
      if (!transient(error)) throw error;
      failure = error;
    }
    if (!text) continue;
    messages.push({ role: 'assistant', content: text });
    const boxed = lastBoxed(text);
    if (boxed !== undefined) return boxed;
    if (retry < retries - 1) messages.pop();
  }
  if (failure) throw failure;
  return undefined;
}

/**
 * The failure-experience summary (generate_failure_summary): MiroThinker's prompt, then its
 * assistant prefix for the model to continue; undefined when none could be had.
 */
async function failureSummary(messages: ChatMessage[], ask: Ask, turns: number): Promise<string | undefined> {
  const prompts = mirothinkerPrompts() as Record<string, string>;
  const list = [...messages];
  if (list.at(-1)?.role === 'user') list.pop();
  list.push({ role: 'user', content: prompts.failure_summary_prompt! });
  list.push({ role: 'assistant', content: prompts.failure_summary_assistant_prefix! });
  let text: string;
  try {
    text = (await ask(list, turns + 10, 'failure summary')).content;
  } catch (error) {
    if (!transient(error)) throw error;
    return undefined;
  }
  return text ? extractFailureSummary(prompts.failure_summary_assistant_prefix! + text) || undefined : undefined;
}

/** The summary's text after the thinking and before any tool call; the thinking when that is empty. */
export function extractFailureSummary(text: string): string {
  const think = /<think>([\s\S]*?)<\/think>/.exec(text);
  const thought = think ? pyStrip(think[1]!) : '';
  const after = think ? text.slice(think.index + think[0].length) : text;
  const call = after.indexOf('<use_mcp_tool>');
  return pyStrip(call === -1 ? after : after.slice(0, call)) || thought;
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
        answer = lastBoxed(completion.content) ?? (stripThinking(completion.content, { rule: 'last-close' }) || undefined);
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
    return { ...(answer !== undefined ? { answer } : {}), stop, turns, toolCalls, tokens, ms: Date.now() - started, messages, attempts: [] };
  } catch (failure) {
    const error = errorMessage(failure);
    trace?.write({ type: 'error', error });
    return { stop: options.signal?.aborted ? 'cancelled' : 'model_error', turns, toolCalls, tokens, ms: Date.now() - started, error, messages, attempts: [] };
  } finally {
    trace?.write({ type: 'end', turns, toolCalls, tokens, ms: Date.now() - started });
  }
}
