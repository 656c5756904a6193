const INDENT = 2;
const GAP = 2;
/** Terms longer than this put their description on the next line rather than widen the column. */
const MAX_TERM = 34;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Help rows as two columns: terms padded to one width, descriptions wrapped beside them. A term
 * too long for the column stands on its own line, its description on the next ones.
 */
export function helpColumns(rows: readonly (readonly [term: string, description: string])[], width = 100): string {
  const column = Math.min(MAX_TERM, Math.max(0, ...rows.map(([term]) => term.length).filter((length) => length <= MAX_TERM)));
  const start = INDENT + column + GAP;
  const descriptionWidth = Math.max(30, width - start);
  const out: string[] = [];
  for (const [term, description] of rows) {
    const lines = wrap(description, descriptionWidth);
    if (term.length > column) out.push(' '.repeat(INDENT) + term);
    else out.push((' '.repeat(INDENT) + term.padEnd(column + GAP) + (lines.shift() ?? '')).trimEnd());
    for (const line of lines) out.push(' '.repeat(start) + line);
  }
  return out.join('\n');
}
