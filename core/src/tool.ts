import { z } from 'zod';
import type { CallToolResult, LoggingLevel } from '@modelcontextprotocol/server';
import type { Logger } from './log.js';
import type { ToolReply, ToolResponse } from './response.js';

/** All four hints are required: a host decides what to confirm with the user from them. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface ToolContext {
  signal: AbortSignal;
  sessionId: string | undefined;
  logger: Logger;
  /** An MCP `notifications/message` to the client, filtered by the level it set. */
  notify(level: LoggingLevel, data: unknown): Promise<void>;
  /**
   * The host folders this call may read: the operator's roots (`--roots`), narrowed to the
   * client's MCP roots when it offers them. A client root never widens them: one inside a
   * configured root narrows to it, one containing a configured root yields that root, one
   * outside them all yields nothing.
   */
  roots(): Promise<string[]>;
  /** An MCP progress notification, sent only when the caller asked for progress. */
  progress(progress: number, total?: number, message?: string): Promise<void>;
}

export type ObjectSchema = z.ZodObject<z.ZodRawShape>;


type OutputOf<O> = O extends ObjectSchema ? z.infer<O> : Record<string, unknown>;

export interface ToolSpec<I extends ObjectSchema, O extends ObjectSchema | undefined> {
  name: string;
  title: string;
  description: string;
  input: I;
  output?: O;
  annotations: ToolAnnotations;
  /**
   * The JSON Schema to advertise instead of the one derived from `input`. Only for profiles that
   * must reproduce a schema a model was trained on, byte for byte; `input` still validates.
   */
  advertisedInputSchema?: Record<string, unknown>;
  /** Likewise the output schema, for a tool with no `output`; its replies then carry `structured` matching it. */
  advertisedOutputSchema?: Record<string, unknown>;
  handle(args: z.infer<I>, context: ToolContext): Promise<ToolReply<OutputOf<O>> | ToolResponse<OutputOf<O>>>;
}

export interface Tool {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly annotations: ToolAnnotations;
  readonly inputSchema: Record<string, unknown>;
  readonly outputSchema: Record<string, unknown> | undefined;
  readonly input: ObjectSchema;
  readonly output: ObjectSchema | undefined;
  handle(args: unknown, context: ToolContext): Promise<ToolReply<Record<string, unknown>> | ToolResponse>;
}

const TOOL_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

function jsonSchemaOf(schema: ObjectSchema, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** One zod schema gives the advertised JSON Schema, the validation and the handler's types. */
export function defineTool<I extends ObjectSchema, O extends ObjectSchema | undefined = undefined>(
  spec: ToolSpec<I, O>,
): Tool {
  if (!TOOL_NAME.test(spec.name)) throw new Error(`Invalid tool name "${spec.name}"`);
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    annotations: spec.annotations,
    input: spec.input,
    output: spec.output,
    inputSchema: spec.advertisedInputSchema ?? jsonSchemaOf(spec.input, 'input'),
    outputSchema: spec.output ? jsonSchemaOf(spec.output, 'output') : spec.advertisedOutputSchema,
    handle: spec.handle as Tool['handle'],
  };
}

export function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

export function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}
