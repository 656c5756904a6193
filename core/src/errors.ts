export type ErrorCode =
  | 'invalid_argument'
  | 'invalid_config'
  | 'not_found'
  | 'forbidden'
  | 'blocked_address'
  | 'timeout'
  | 'too_large'
  | 'rate_limited'
  | 'network'
  | 'upstream'
  | 'unavailable'
  | 'cancelled'
  /** The id names state another replica behind the balancer holds (or held: it may have stopped). */
  | 'wrong_replica'
  | 'internal';

/**
 * A failure with a stable machine-readable `code` and, where one exists, a `hint` telling the
 * caller (often a model) how to recover. Tool handlers throw these; the server turns them into
 * `isError` results.
 */
export class FathomError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FathomError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** The text a model sees: what went wrong, then how to recover. */
  toText(): string {
    return this.hint ? `${this.message}\n${this.hint}` : this.message;
  }
}

export function isFathomError(error: unknown, code?: ErrorCode): error is FathomError {
  return error instanceof FathomError && (code === undefined || error.code === code);
}

/** An error as one line, its hint after the message: what a terminal or an MCP host's log shows at start-up. */
export function errorLine(error: unknown): string {
  const message = errorMessage(error);
  const hint = isFathomError(error) ? error.hint?.replace(/\s*\n\s*/g, ' ') : undefined;
  return hint ? `${message.replace(/\.$/, '')}. ${hint}` : message;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
