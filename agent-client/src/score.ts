import { ChatClient, ChatFailure, FathomError, errorMessage, stripThinking } from '@fathom/core';

/*
 * Exact match as GAIA scores it: the leaderboard's question_scorer
 * (huggingface.co/spaces/gaia-benchmark/leaderboard, scorer.py), which MiroThinker inlines in
 * apps/miroflow-agent/benchmarks/evaluators/eval_utils.py (verify_answer_gaia). Python's float()
 * is reproduced so that the same strings count as numbers.
 */

/*
 * Python's whitespace, not JavaScript's (which has U+FEFF and lacks U+0085): `\s` in its re also
 * matches U+001C–U+001F, which float() does not strip.
 */
const FLOAT_SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACE = `${FLOAT_SPACE}\\x1c-\\x1f`;
const PY_EDGE_SPACE = new RegExp(`^[${FLOAT_SPACE}]+|[${FLOAT_SPACE}]+$`, 'g');
const PY_ANY_SPACE = new RegExp(`[${PY_SPACE}]`, 'g');

const PY_FLOAT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:e[+-]?\d(?:_?\d)*)?$/i;
const PY_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/** Python's float(text), or undefined where Python raises ValueError. */
export function pythonFloat(text: string): number | undefined {
  const trimmed = asciiDigits(text).replace(PY_EDGE_SPACE, '');
  if (PY_FLOAT.test(trimmed)) return Number(trimmed.replaceAll('_', ''));
  const special = PY_SPECIAL.exec(trimmed);
  if (!special) return undefined;
  if (special[2]!.toLowerCase() === 'nan') return NaN;
  return special[1] === '-' ? -Infinity : Infinity;
}

const DECIMAL_DIGIT = /\p{Nd}/u;

/** Python reads any Unicode decimal digit ("١٢" is 12); each script's digits are one run from 0 to 9. */
function asciiDigits(text: string): string {
  return text.replace(/\p{Nd}/gu, (digit) => {
    const code = digit.codePointAt(0)!;
    let zero = code;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
    return String((code - zero) % 10);
  });
}

/** Drops `$`, `%` and `,`, then reads a float; anything else is +inf, which equals no finite truth. */
export function normalizeNumberStr(text: string): number {
  return pythonFloat(text.replace(/[$%,]/g, '')) ?? Infinity;
}

export function splitString(text: string): string[] {
  return text.split(/[,;]/);
}

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

/** No whitespace at all (so "sea gull" is "seagull"), lower case, and ASCII punctuation removed unless told. */
export function normalizeStr(text: string, removePunct = true): string {
  const lower = text.replace(PY_ANY_SPACE, '').toLowerCase();
  return removePunct ? lower.replace(PUNCTUATION, '') : lower;
}

/** GAIA's question_scorer: the truth decides whether to compare as a number, a list or a string. */
export function scoreAnswer(prediction: string | undefined, truth: string): boolean {
  const answer = prediction ?? 'None';
  const truthNumber = pythonFloat(truth);
  if (truthNumber !== undefined) return normalizeNumberStr(answer) === truthNumber;
  if (/[,;]/.test(truth)) {
    const truthItems = splitString(truth);
    const answerItems = splitString(answer);
    if (truthItems.length !== answerItems.length) return false;
    return truthItems.every((item, index) => {
      const given = answerItems[index]!;
      const itemNumber = pythonFloat(item);
      if (itemNumber !== undefined) return normalizeNumberStr(given) === itemNumber;
      // Punctuation is kept inside list items: it can be part of the answer.
      return normalizeStr(given, false) === normalizeStr(item, false);
    });
  }
  return normalizeStr(answer) === normalizeStr(truth);
}

export interface JudgeSettings {
  /** OpenAI-compatible base URL ending in /v1. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Per-request time limit (default 60 s). */
  timeoutMs?: number;
  /** Attempts per verdict (default 3). */
  attempts?: number;
  /** Wait before attempt n+1 is n times this (default 1 s). */
  retryDelayMs?: number;
}

export interface JudgeVerdict {
  /** undefined when no verdict could be had; `reason` then says why. */
  correct: boolean | undefined;
  reason?: string;
  /** The judge's reply as sent. */
  reply?: string;
}

/*
 * The prompt MiroThinker judges GAIA-Text-103 and WebWalkerQA with
 * (GAIA_VALIDATION_TEXT_103_SCORER_PROMPT in apps/miroflow-agent/benchmarks/evaluators/eval_utils.py,
 * itself taken from Alibaba-NLP/WebAgent, WebSailor/src/prompt.py), word for word.
 */
export const JUDGE_PROMPT = `You are an evaluation assistant. Please determine if the predicted answer is equivalent to the labeled answer.

Question: {question}

Labeled Answer: {correct_answer}

Predicted Answer: {response}

Did the model give an answer **equivalent** to the labeled answer? Please respond with "Correct" if they are equivalent, or "Incorrect" if they are not equivalent. Do not include any other text.
`;

export function judgePrompt(question: string, prediction: string, truth: string): string {
  const values: Record<string, string> = { question, correct_answer: truth, response: prediction };
  return JUDGE_PROMPT.replace(/\{(question|correct_answer|response)\}/g, (_, name: string) => values[name]!);
}

/** Reads "Correct" or "Incorrect" from a reply, a leading `<think>` block and markdown allowed. */
export function parseVerdict(reply: string): boolean | undefined {
  const text = stripThinking(reply, { rule: 'every' });
  const word = /\b(incorrect|correct)\b/i.exec(text)?.[1]?.toLowerCase();
  return word === undefined ? undefined : word === 'correct';
}

/** Asks an LLM whether the prediction matches the truth. Never throws. */
export async function judgeAnswer(
  question: string,
  prediction: string | undefined,
  truth: string,
  judge: JudgeSettings,
  signal?: AbortSignal,
): Promise<JudgeVerdict> {
  if (prediction === undefined || !prediction.trim()) return { correct: false, reason: 'no answer' };
  const retryDelayMs = judge.retryDelayMs ?? 1000;
  const client = new ChatClient({
    baseUrl: judge.baseUrl,
    ...(judge.apiKey ? { apiKey: judge.apiKey } : {}),
    timeoutMs: judge.timeoutMs ?? 60_000,
    attempts: judge.attempts ?? 3,
    retryDelayMs: (attempt) => retryDelayMs * attempt,
    retryOn: ['network', 'timeout', 'http'],
  });
  const body = { model: judge.model, messages: [{ role: 'user', content: judgePrompt(question, prediction, truth) }], temperature: 0, stream: false };
  try {
    const { content: reply } = await client.complete(body, signal ? { signal } : {});
    const correct = parseVerdict(reply);
    return correct === undefined ? { correct, reason: 'no verdict in the reply', reply } : { correct, reply };
  } catch (error) {
    return { correct: undefined, reason: failureReason(error) };
  }
}

function failureReason(error: unknown): string {
  if (!(error instanceof FathomError)) return `judge request failed: ${errorMessage(error)}`;
  if (error.code === 'cancelled') return 'cancelled';
  const failure = error.cause instanceof ChatFailure ? error.cause : undefined;
  if (failure?.kind === 'timeout') return 'judge timed out';
  if (failure?.kind === 'http') return `judge answered ${failure.message}`;
  const details = error.details as { status?: unknown; message?: unknown } | undefined;
  if (typeof details?.status === 'number') return `judge answered HTTP ${details.status}: ${String(details.message ?? '')}`;
  return `judge request failed: ${failure?.message ?? error.message}`;
}
