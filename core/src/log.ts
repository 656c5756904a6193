export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(name: string): Logger;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stderr by default, since stdout is the protocol channel in stdio mode. */
  write?: (line: string) => void;
}

function defaultLevel(): LogLevel {
  const fromEnv = process.env.FATHOM_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(fromEnv ?? '') ? (fromEnv as LogLevel) : 'info';
}

function serializable(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { message: value.message, ...(code === undefined ? {} : { code }) };
  }
  return value;
}

/** One JSON object per line on stderr: `{"time","level","logger","msg",...fields}`. */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? defaultLevel();
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (rank[lvl] < rank[level]) return;
    const entry: LogFields = { time: new Date().toISOString(), level: lvl, logger: name, msg };
    if (fields) for (const [key, value] of Object.entries(fields)) entry[key] = serializable(value);
    write(JSON.stringify(entry));
  };
  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (child) => createLogger(`${name}.${child}`, { level, write }),
  };
}
