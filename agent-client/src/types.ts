/** Shapes shared by the agent's parts: the model client, the MCP connections, the loop, traces. */

export interface ToolInfo {
  name: string;
  description: string;
  /** The input schema exactly as the server sent it (key order kept: the prompt prints it). */
  inputSchema: Record<string, unknown>;
}

export interface ServerTools {
  /** The name the model uses for the server, e.g. tool-python. */
  server: string;
  tools: ToolInfo[];
}

export interface ToolCall {
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
  /** The model's id for a native function call (openai-tools protocol). */
  id?: string;
}

export interface ToolOutcome {
  call: ToolCall;
  /** The tool result's text (text blocks joined by "\n"), or the error text. */
  text: string;
  isError: boolean;
  ms: number;
}

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Completion {
  /** The assistant text, `<think>` block included when the server streams it in the content. */
  content: string;
  /** Reasoning streamed separately (`reasoning_content`), when the server does that. */
  reasoning?: string;
  finishReason: string;
  usage?: Usage;
  toolCalls?: ChatToolCall[];
  /** Attempts made, 1 when the first succeeded. */
  attempts: number;
  ms: number;
}

export interface ModelSettings {
  /** OpenAI-compatible base URL ending in /v1. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Sent as an extra body field (SGLang and vLLM read it). */
  repetitionPenalty: number;
  /** Context window in tokens. */
  contextTokens: number;
  /** Per-request time limit. */
  timeoutMs: number;
  /** Attempts per request (MiroThinker: 10). */
  retries: number;
}

/** What a run reports as it goes, for the live view and the trace. */
export type LoopEvent =
  | { type: 'attempt'; attempt: number; of: number }
  | { type: 'turn'; turn: number; tokens: number }
  | { type: 'tool'; turn: number; call: ToolCall; outcome: ToolOutcome }
  | { type: 'rollback'; turn: number; reason: string }
  | { type: 'model_retry'; turn: number; reason: string }
  | { type: 'summary'; reason: string }
  | { type: 'attempt_end'; attempt: number; of: number; ended: string; answer?: string; failureSummary: boolean }
  | { type: 'answer'; answer: string | undefined };
