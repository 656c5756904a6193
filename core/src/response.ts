import type { ContentBlock } from '@modelcontextprotocol/server';
import type { BudgetSlice } from './budget.js';
import { continuationNote, cutToBudget } from './budget.js';

export interface BodyOptions {
  maxChars: number;
  /** The cursor the caller passed back; the heading is shown only on the first window. */
  cursor?: string | undefined;
  /** What to show when the body is empty. */
  empty?: string;
}

export type ToolReply<S> =
  | string
  | {
      text?: string;
      content?: ContentBlock[];
      structured?: S;
      isError?: boolean;
    };

type Section = { kind: 'text'; text: string } | { kind: 'body'; slice: BudgetSlice; empty: string | undefined };

/**
 * The one way a tool answers: a heading, sections, at most one length-capped body with its
 * continuation cursor, `[note]` lines, structured content and extra content blocks, rendered in
 * that order with a blank line between parts. A response holding a single `text` section renders
 * it unchanged, which is how profiles with byte-exact formats answer.
 */
export class ToolResponse<S extends Record<string, unknown> = Record<string, unknown>> {
  #heading: string | undefined;
  readonly #sections: Section[] = [];
  readonly #notes: string[] = [];
  readonly #content: ContentBlock[] = [];
  #structured: S | undefined;
  #isError = false;

  /** Shown above everything, except when the body is a later window of a longer text. */
  heading(text: string | undefined): this {
    this.#heading = text || undefined;
    return this;
  }

  /** A section shown as it is; empty text adds nothing. */
  text(text: string | undefined): this {
    if (text) this.#sections.push({ kind: 'text', text });
    return this;
  }

  /** The length-capped part: cut to the budget at the cursor, with the line that says how to read on. */
  body(text: string, options: BodyOptions): BudgetSlice {
    if (this.#sections.some((section) => section.kind === 'body')) throw new Error('A tool response has one body');
    const slice = cutToBudget(text, { maxChars: options.maxChars, ...(options.cursor ? { cursor: options.cursor } : {}) });
    this.#sections.push({ kind: 'body', slice, empty: options.empty });
    return slice;
  }

  /** A `[note] …` line after the body: what the caller should know about how the answer was made. */
  note(text: string | undefined): this {
    if (text) this.#notes.push(text);
    return this;
  }

  structured(value: S): this {
    this.#structured = value;
    return this;
  }

  /** Images, resources and other blocks, after the text. */
  content(...blocks: ContentBlock[]): this {
    this.#content.push(...blocks);
    return this;
  }

  error(): this {
    this.#isError = true;
    return this;
  }

  render(): string {
    const body = this.#sections.find((section) => section.kind === 'body');
    const continued = body !== undefined && body.slice.start > 0;
    const parts: string[] = [];
    if (this.#heading && !continued) parts.push(this.#heading);
    for (const section of this.#sections) {
      if (section.kind === 'text') parts.push(section.text);
      else {
        parts.push(section.slice.text || section.empty || '');
        parts.push(continuationNote(section.slice));
      }
    }
    parts.push(...this.#notes.map((note) => `[note] ${note}`));
    return parts.filter(Boolean).join('\n\n');
  }

  reply(): ToolReply<S> {
    const text = this.render();
    return {
      ...(text ? { text } : {}),
      ...(this.#content.length ? { content: this.#content } : {}),
      ...(this.#structured !== undefined ? { structured: this.#structured } : {}),
      ...(this.#isError ? { isError: true } : {}),
    };
  }
}

export function respond<S extends Record<string, unknown> = Record<string, unknown>>(): ToolResponse<S> {
  return new ToolResponse<S>();
}
