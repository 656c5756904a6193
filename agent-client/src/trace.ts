import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FathomError } from '@fathom/core';
import { ModelClient } from './llm.js';
import type { CompleteOptions, ModelClientOptions } from './llm.js';
import type { LoopEvent } from './types.js';
import type { ChatMessage, Completion, ModelSettings } from './types.js';

export const TRACE_EVENT_TYPES = [
  'start',
  'attempt',
  'attempt_end',
  'model_retry',
  'request',
  'prompt',
  'response',
  'tool_call',
  'tool_result',
  'rollback',
  'retention',
  'summary',
  'answer',
  'error',
  'event',
  'end',
] as const;
export type TraceEventType = (typeof TRACE_EVENT_TYPES)[number];

/**
 * What the agent hands to `TraceWriter.write`. The fields the timeline reads, by type:
 * - start: task, model, protocol, attempts
 * - attempt: attempt, of, task (the task as this attempt's first message carries it)
 * - attempt_end: attempt, of, ended, answer, failureSummary, summaryText
 * - model_retry: reason (a failed model call; the turn is asked again)
 * - request: messages, estimate (prompt tokens)
 * - prompt: the messages the request sent, as `same` (how many lead the previous prompt's list too),
 *   `then` (the hashes of the rest) and `added` (each message not seen earlier in the trace, by
 *   hash); `tools` and `toolsHash` likewise. `promptsOf` rebuilds every request from them.
 * - response: content (`<think>` included), reasoning, finishReason, usage, attempts, ms
 * - tool_call: call ({ server, tool, arguments }) or server, tool, arguments
 * - tool_result: server, tool, text, chars, isError, ms
 * - rollback, summary: reason
 * - retention: omitted, kept
 * - answer: answer
 * - error: error or message
 * - event: message
 * - end: turns, toolCalls, tokens, ms, stop
 */
export interface TraceInput {
  type: TraceEventType;
  turn?: number;
  [key: string]: unknown;
}

export interface TraceEvent extends TraceInput {
  /** Milliseconds since the trace was opened. */
  t: number;
  /** Wall-clock time, ISO 8601. */
  at: string;
}

/** One JSON object a line, written with one synchronous call each, so a crash loses nothing written. */
export class TraceWriter {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly started: number,
  ) {
    this.fd = fd;
  }

  /** Opens `path` (creating its folder), truncating an older trace unless `append` is set. */
  static open(path: string, options: { append?: boolean } = {}): TraceWriter {
    mkdirSync(dirname(path), { recursive: true });
    return new TraceWriter(path, openSync(path, options.append ? 'a' : 'w'), Date.now());
  }

  write(input: TraceInput): TraceEvent {
    const now = Date.now();
    const event: TraceEvent = { t: now - this.started, at: new Date(now).toISOString(), ...input };
    const line = serialize(event) + '\n';
    // A late write (a tool finishing after close) still lands in the file.
    if (this.fd === undefined) appendFileSync(this.path, line);
    else writeSync(this.fd, line);
    return event;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function serialize(event: TraceEvent): string {
  try {
    return JSON.stringify(event);
  } catch (error) {
    const { t, at, type, turn } = event;
    return JSON.stringify({ t, at, type, turn, unserializable: (error as Error).message });
  }
}

/** Reads a trace; a truncated last line (the process died mid-write) is dropped. */
export function readTrace(path: string): TraceEvent[] {
  if (!existsSync(path)) throw new FathomError('not_found', `No trace at ${path}`);
  const lines = readFileSync(path, 'utf8').split('\n');
  const last = lines.findLastIndex((line) => line.trim() !== '');
  const events: TraceEvent[] = [];
  lines.forEach((line, index) => {
    if (!line.trim()) return;
    const event = parseEvent(line);
    if (event) events.push(event);
    else if (index !== last) throw new FathomError('invalid_argument', `${path}, line ${index + 1}: not a trace event`);
  });
  return events;
}

function parseEvent(line: string): TraceEvent | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const event = value as Partial<TraceEvent>;
    if (typeof event.type !== 'string' || typeof event.t !== 'number') return undefined;
    return event as TraceEvent;
  } catch {
    return undefined;
  }
}

export interface RenderOptions {
  color?: boolean;
  /** Line width in characters (default 100). */
  width?: number;
  /** Whole arguments, results, thinking and texts, over as many lines as they take, instead of one cut line each. */
  full?: boolean;
}

type Paint = 'dim' | 'bold' | 'cyan' | 'yellow' | 'green' | 'red' | 'magenta' | 'blue';
const ANSI: Record<Paint, string> = {
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  cyan: '\x1b[36m',
  yellow: '\x1b[33m',
  green: '\x1b[32m',
  red: '\x1b[31m',
  magenta: '\x1b[35m',
  blue: '\x1b[34m',
};
const RESET = '\x1b[0m';
const TIME_WIDTH = 8;
const LABEL_WIDTH = 10;

/** A readable timeline of a trace: per turn the thinking, the calls and results, rollbacks; then the answer and totals. */
export function renderTrace(events: readonly TraceEvent[], options: RenderOptions = {}): string {
  const width = Math.max(40, options.width ?? 100);
  const bodyWidth = width - TIME_WIDTH - LABEL_WIDTH - 2;
  const paint = (text: string, style: Paint) => (options.color ? `${ANSI[style]}${text}${RESET}` : text);
  const out: string[] = [];
  const indent = ' '.repeat(TIME_WIDTH + 2 + LABEL_WIDTH);
  const row = (event: TraceEvent | undefined, label: string, body: string, style: Paint) => {
    const time = event ? formatMs(event.t).padStart(TIME_WIDTH) : ' '.repeat(TIME_WIDTH);
    const [first = '', ...rest] = options.full ? body.replace(/\s+$/, '').split('\n') : [cut(body, bodyWidth)];
    out.push(`${paint(time, 'dim')}  ${paint(label.padEnd(LABEL_WIDTH), style)}${first}`);
    for (const line of rest) out.push(line ? indent + line : '');
  };
  const heading = (title: string) => out.push(paint(rule(title, width), 'cyan'));
  let turn: number | undefined;
  let summarizing = false;
  for (const event of events) {
    if (event.type === 'summary') {
      summarizing = true;
      heading('summary');
    } else if (!summarizing && typeof event.turn === 'number' && event.turn !== turn) {
      turn = event.turn;
      heading(`turn ${turn}`);
    }
    renderEvent(event, row, options.full === true);
  }
  const totals = totalsOf(events);
  heading('totals');
  out.push(
    cut(
      [
        `${totals.turns} turns`,
        `${totals.toolCalls} tool calls`,
        `${totals.tokens.toLocaleString('en-US')} tokens`,
        formatMs(totals.ms),
        ...(totals.rollbacks ? [`${totals.rollbacks} rollbacks`] : []),
        ...(totals.stop ? [`stop: ${totals.stop}`] : []),
      ].join(' · '),
      width,
    ),
  );
  return out.join('\n') + '\n';
}

type Row = (event: TraceEvent | undefined, label: string, body: string, style: Paint) => void;

function renderEvent(event: TraceEvent, row: Row, full: boolean): void {
  const flat = (text: string) => (full ? text : oneLine(text));
  switch (event.type) {
    case 'start': {
      const taskId = str(event.task_id);
      const model = str(event.model);
      const parts = [taskId && `task ${taskId}`, model && `model ${model}`, str(event.protocol)];
      row(event, 'start', parts.filter(Boolean).join(' · ') || event.at, 'bold');
      const task = str(event.task) ?? str(event.question);
      if (task) row(undefined, 'task', flat(task), 'bold');
      return;
    }
    case 'attempt':
      row(event, 'attempt', `attempt ${num(event.attempt) ?? '?'} of ${num(event.of) ?? '?'}`, 'bold');
      return;
    case 'attempt_end': {
      const ended = `attempt ${num(event.attempt) ?? '?'} of ${num(event.of) ?? '?'} ended: ${str(event.ended) ?? '?'}`;
      row(event, 'attempt', str(event.answer) !== undefined ? `${ended} → ${str(event.answer)}` : ended, 'bold');
      const summary = str(event.summaryText);
      if (summary) row(undefined, 'carried', flat(summary), 'cyan');
      return;
    }
    case 'model_retry':
      row(event, 'retry', `model call failed, turn asked again: ${flat(str(event.reason) ?? '')}`, 'red');
      return;
    case 'request': {
      const messages = num(event.messages);
      const estimate = num(event.estimate);
      const parts = [messages !== undefined && `${messages} messages`, estimate !== undefined && `~${estimate.toLocaleString('en-US')} tokens`];
      row(event, 'request', parts.filter(Boolean).join(' · '), 'dim');
      return;
    }
    case 'prompt':
      return;
    case 'response':
      return renderResponse(event, row, flat);
    case 'tool_call': {
      const call = (event.call ?? event) as Record<string, unknown>;
      const server = str(call.server) ?? '?';
      const tool = str(call.tool) ?? '?';
      row(event, 'call', full ? fullCall(server, tool, call.arguments) : shortCall(server, tool, call.arguments), 'yellow');
      return;
    }
    case 'tool_result': {
      const text = str(event.text) ?? '';
      const ms = num(event.ms);
      const chars = num(event.chars) ?? text.length;
      const facts = [formatChars(chars), ...(ms !== undefined ? [formatMs(ms)] : [])].join(' · ');
      const failed = event.isError === true || event.is_error === true;
      const kept = chars > text.length ? `\n[the trace keeps the first ${text.length.toLocaleString('en-US')} of ${chars.toLocaleString('en-US')} characters]` : '';
      row(event, failed ? 'error' : 'result', full ? `${facts}\n${text}${kept}` : `${facts}  ${oneLine(text)}`, failed ? 'red' : 'green');
      return;
    }
    case 'rollback':
      row(event, 'rollback', str(event.reason) ?? '', 'red');
      return;
    case 'retention': {
      const omitted = num(event.omitted);
      const kept = num(event.kept);
      const parts = [omitted !== undefined && `${omitted} results omitted`, kept !== undefined && `${kept} kept`, str(event.message)];
      row(event, 'retention', parts.filter(Boolean).join(' · '), 'magenta');
      return;
    }
    case 'summary':
      row(event, 'summary', str(event.reason) ?? '', 'cyan');
      return;
    case 'answer':
      row(event, 'answer', str(event.answer) ?? '(none)', 'green');
      return;
    case 'error':
      row(event, 'error', flat(str(event.error) ?? str(event.message) ?? ''), 'red');
      return;
    case 'event':
      row(event, 'event', flat(str(event.message) ?? str(event.name) ?? ''), 'blue');
      return;
    case 'end':
      row(event, 'end', str(event.stop) ?? '', 'dim');
      return;
  }
}

function renderResponse(event: TraceEvent, row: Row, flat: (text: string) => string): void {
  const content = str(event.content) ?? '';
  const thinking = str(event.reasoning) ?? /<think>([\s\S]*?)(?:<\/think>|$)/.exec(content)?.[1];
  const said = content
    .replace(/<think>[\s\S]*?(?:<\/think>|$)/, '')
    .replace(/<use_mcp_tool>[\s\S]*?(?:<\/use_mcp_tool>|$)/g, '');
  const usage = event.usage as { completion_tokens?: number } | undefined;
  const ms = num(event.ms);
  const attempts = num(event.attempts) ?? 1;
  const finish = str(event.finishReason) ?? str(event.finish_reason);
  const facts = [
    ms !== undefined && formatMs(ms),
    usage?.completion_tokens !== undefined && `${usage.completion_tokens.toLocaleString('en-US')} tokens out`,
    attempts > 1 && `${attempts} attempts`,
    finish && finish !== 'stop' && `finish: ${finish}`,
  ].filter(Boolean);
  if (facts.length) row(event, 'response', facts.join(' · '), 'dim');
  if (thinking?.trim()) row(facts.length ? undefined : event, 'think', flat(thinking.trim()), 'dim');
  if (said.trim()) row(undefined, 'says', flat(said.trim()), 'bold');
}

interface Totals {
  turns: number;
  toolCalls: number;
  tokens: number;
  ms: number;
  rollbacks: number;
  stop?: string;
}

function totalsOf(events: readonly TraceEvent[]): Totals {
  const end = events.findLast((event) => event.type === 'end');
  const turns = Math.max(0, ...events.map((event) => (typeof event.turn === 'number' && event.type !== 'summary' ? event.turn : 0)));
  const tokens = events.reduce((sum, event) => sum + (event.type === 'response' ? ((event.usage as { total_tokens?: number } | undefined)?.total_tokens ?? 0) : 0), 0);
  const stop = str(end?.stop) ?? str(events.findLast((event) => event.type === 'summary')?.reason);
  return {
    turns: num(end?.turns) ?? turns,
    toolCalls: num(end?.toolCalls) ?? num(end?.tool_calls) ?? events.filter((event) => event.type === 'tool_call').length,
    tokens: num(end?.tokens) ?? tokens,
    ms: num(end?.ms) ?? events.at(-1)?.t ?? 0,
    rollbacks: events.filter((event) => event.type === 'rollback').length,
    ...(stop ? { stop } : {}),
  };
}

/** `server/tool key="value…" other=3`, each value cut short. */
export function shortCall(server: string, tool: string, args: unknown, valueWidth = 40): string {
  const entries = args && typeof args === 'object' ? Object.entries(args as Record<string, unknown>) : [];
  const shown = entries.map(([key, value]) => {
    if (typeof value === 'string') return `${key}=${JSON.stringify(cut(value, valueWidth))}`;
    return `${key}=${cut(JSON.stringify(value) ?? String(value), valueWidth)}`;
  });
  return [`${server}/${tool}`, ...shown].join(' ');
}

/** `server/tool` and then each argument whole: strings as written (over their own lines), other values as JSON. */
export function fullCall(server: string, tool: string, args: unknown): string {
  const entries = args && typeof args === 'object' ? Object.entries(args as Record<string, unknown>) : [];
  const shown = entries.map(([key, value]) => {
    const text = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? String(value));
    return text.includes('\n') ? `${key}:\n${text.replace(/^/gm, '  ')}` : `${key}: ${text}`;
  });
  return [`${server}/${tool}`, ...shown].join('\n');
}

function rule(title: string, width: number): string {
  const head = `── ${title} `;
  return head + '─'.repeat(Math.max(0, width - head.length));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width - 1)) + '…';
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function formatChars(chars: number): string {
  return chars < 10_000 ? `${chars.toLocaleString('en-US')} chars` : `${(chars / 1000).toFixed(1)}k chars`;
}

/** 850ms, 12.3s, 5m 12s, 1h 02m. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

const hashOf = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/**
 * The `prompt` events of a trace: each request's messages, written so that a message is stored
 * once however many requests send it (retention rewrites old results, so the list is not always
 * the previous one plus new messages).
 */
export class PromptLog {
  private previous: string[] = [];
  private readonly seen = new Set<string>();

  entry(messages: readonly ChatMessage[], tools?: readonly object[]): TraceInput {
    const hashes = messages.map(hashOf);
    let same = 0;
    while (same < hashes.length && same < this.previous.length && hashes[same] === this.previous[same]) same++;
    const added: { hash: string; message: ChatMessage }[] = [];
    hashes.forEach((hash, index) => {
      if (this.seen.has(hash)) return;
      this.seen.add(hash);
      added.push({ hash, message: messages[index]! });
    });
    this.previous = hashes;
    const toolsHash = tools ? hashOf(tools) : undefined;
    const newTools = toolsHash !== undefined && !this.seen.has(toolsHash);
    if (toolsHash !== undefined) this.seen.add(toolsHash);
    return { type: 'prompt', same, then: hashes.slice(same), added, ...(toolsHash ? { toolsHash } : {}), ...(newTools ? { tools } : {}) };
  }
}

export interface ReplayedPrompt {
  messages: ChatMessage[];
  tools?: object[];
}

/** Every request of a trace as it was sent, rebuilt from its `prompt` events. */
export function promptsOf(events: readonly TraceEvent[]): ReplayedPrompt[] {
  const store = new Map<string, unknown>();
  let previous: string[] = [];
  const prompts: ReplayedPrompt[] = [];
  for (const event of events) {
    if (event.type !== 'prompt') continue;
    for (const { hash, message } of (event.added as { hash: string; message: ChatMessage }[] | undefined) ?? []) store.set(hash, message);
    if (typeof event.toolsHash === 'string' && Array.isArray(event.tools)) store.set(event.toolsHash, event.tools);
    const same = num(event.same) ?? 0;
    const incomplete = (what: string) => new FathomError('invalid_argument', `The trace's prompt at ${formatMs(event.t)} refers to ${what}`, { hint: 'The trace is incomplete: it was cut or edited.' });
    if (same > previous.length) throw incomplete(`${same} messages of a prompt it never stored`);
    const hashes = [...previous.slice(0, same), ...((event.then as string[] | undefined) ?? [])];
    const messages = hashes.map((hash) => {
      const message = store.get(hash);
      if (!message) throw incomplete(`a message it never stored (${hash})`);
      return message as ChatMessage;
    });
    const tools = typeof event.toolsHash === 'string' ? (store.get(event.toolsHash) as object[] | undefined) : undefined;
    prompts.push({ messages, ...(tools ? { tools } : {}) });
    previous = hashes;
  }
  return prompts;
}

/** What the model answered, as the live view's verbose mode shows it. */
export interface ResponseEvent {
  type: 'response';
  content: string;
  reasoning?: string;
}

export interface ObservedModelOptions extends ModelClientOptions {
  /** Each request's messages go to the trace as `prompt` events. */
  trace?: TraceWriter;
  onResponse?: (event: ResponseEvent) => void;
}

/** The model client that also records what each request sent, and reports each answer. */
export class ObservedModelClient extends ModelClient {
  private readonly log = new PromptLog();

  constructor(
    settings: ModelSettings,
    private readonly observe: ObservedModelOptions,
  ) {
    super(settings, observe);
  }

  override async complete(messages: ChatMessage[], options: CompleteOptions = {}): Promise<Completion> {
    this.observe.trace?.write(this.log.entry(messages, options.tools));
    const completion = await super.complete(messages, options);
    this.observe.onResponse?.({ type: 'response', content: completion.content, ...(completion.reasoning ? { reasoning: completion.reasoning } : {}) });
    return completion;
  }
}

const RESULT_HEAD_LINES = 6;
const RESULT_HEAD_CHARS = 160;

/**
 * The extra lines `fathom agent --verbose` prints for an event: the model's thinking and what it
 * said (for a response), the head of the result (for a tool call); nothing for other events.
 */
export function verboseLines(event: LoopEvent | ResponseEvent): string[] {
  if (event.type === 'response') {
    const thinking = event.reasoning ?? /<think>([\s\S]*?)(?:<\/think>|$)/.exec(event.content)?.[1];
    const said = event.content.replace(/<think>[\s\S]*?(?:<\/think>|$)/, '').replace(/<use_mcp_tool>[\s\S]*?(?:<\/use_mcp_tool>|$)/g, '').trim();
    return [...block('  think │ ', '        │ ', thinking?.trim() ?? ''), ...block('  says  │ ', '        │ ', said)];
  }
  if (event.type !== 'tool') return [];
  const text = event.outcome.text;
  const lines = text.split('\n');
  const head = lines.slice(0, RESULT_HEAD_LINES).map((line) => cut(line, RESULT_HEAD_CHARS));
  const more = lines.length > RESULT_HEAD_LINES ? [`… ${lines.length - RESULT_HEAD_LINES} more lines, ${text.length.toLocaleString('en-US')} chars in all`] : [];
  return block('    ⎿ ', '      ', [...head, ...more].join('\n'));
}

/** Each line of `text` after `first` (the first line) or `rest`; nothing for empty text. */
function block(first: string, rest: string, text: string): string[] {
  if (!text) return [];
  return text.split('\n').map((line, index) => (index === 0 ? first : rest) + line);
}
