/**
 * Python's repr() of JSON-like values, for texts a model was trained on: tool results printed by
 * Python SDKs and schemas printed as Python dicts.
 */

const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

function escapeChar(char: string): string {
  switch (char) {
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  if (char === ' ' || !NON_PRINTABLE.test(char)) return char;
  const code = char.codePointAt(0)!;
  if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/** repr(str): single quotes unless the text holds a single quote and no double quote. */
export function pyStr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let body = '';
  for (const char of text) body += char === quote ? `\\${quote}` : escapeChar(char);
  return quote + body + quote;
}

export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return pyStr(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([key, item]) => `${pyStr(key)}: ${pyRepr(item)}`)
      .join(', ')}}`;
  }
  return pyStr(String(value));
}

/**
 * Python's `json.dumps(value, ensure_ascii=False)`: the default separators ", " and ": ", non-ASCII
 * kept as is, object keys in their order. With `indent`, `json.dumps(..., indent=indent)` (item
 * separator "," at each line end), which is also the MCP SDK's FastMCP rendering of a dict result.
 */
export function pyJson(value: unknown, indent?: number, depth = 0): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  const items: string[] = Array.isArray(value)
    ? value.map((item) => pyJson(item, indent, depth + 1))
    : typeof value === 'object'
      ? Object.entries(value as Record<string, unknown>)
          .filter(([, item]) => item !== undefined)
          .map(([key, item]) => `${JSON.stringify(key)}: ${pyJson(item, indent, depth + 1)}`)
      : [];
  if (!Array.isArray(value) && typeof value !== 'object') return JSON.stringify(String(value));
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (indent === undefined) return `${open}${items.join(', ')}${close}`;
  if (!items.length) return `${open}${close}`;
  const inner = ' '.repeat(indent * (depth + 1));
  return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${' '.repeat(indent * depth)}${close}`;
}
