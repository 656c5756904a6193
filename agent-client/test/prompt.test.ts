import { readFileSync } from 'node:fs';
import { mirothinkerPrompts, mirothinkerServers } from '@fathom/core';
import { describe, expect, it } from 'vitest';
import { fileSection, fillTemplate, firstUserMessage, localDate, pyStrip, renderSystemPrompt } from '../src/protocol/index.js';
import type { ServerTools } from '../src/types.js';

const SUFFIX = mirothinkerPrompts().first_user_suffix as string;

function defaultServers(): ServerTools[] {
  return mirothinkerServers().map(({ server, tools }) => ({ server, tools }));
}

const extra: ServerTools = {
  server: 'extra',
  tools: [{ name: 'echo', description: 'Echo it.', inputSchema: { type: 'object', properties: { text: { type: 'string', default: "it's" } } } }],
};

describe('renderSystemPrompt', () => {
  it('matches the prompt Python builds, byte for byte (golden)', () => {
    const expected = readFileSync(new URL('./fixtures/system-prompt-2026-01-15.txt', import.meta.url), 'utf8');
    expect(renderSystemPrompt(defaultServers(), { date: '2026-01-15' })).toBe(expected);
  });

  it('puts the three trained servers first, in their order, then the others as given', () => {
    const servers = [extra, ...defaultServers().reverse()];
    const prompt = renderSystemPrompt(servers, { date: '2026-01-15' });
    const order = [...prompt.matchAll(/^## Server name: (.+)$/gm)].map((match) => match[1]);
    expect(order).toEqual(['tool-python', 'search_and_scrape_webpage', 'jina_scrape_llm_summary', 'extra']);
    expect(prompt).toContain(
      "### Tool name: echo\nDescription: Echo it.\nInput JSON schema: {'type': 'object', 'properties': {'text': {'type': 'string', 'default': \"it's\"}}}\n",
    );
  });

  it('hides the download tool by default and shows it when asked', () => {
    expect(renderSystemPrompt(defaultServers(), { date: '2026-01-15' })).not.toContain('download_file_from_sandbox_to_local');
    const shown = renderSystemPrompt(defaultServers(), { date: '2026-01-15', hiddenTools: [] });
    expect(shown).toContain('### Tool name: download_file_from_sandbox_to_local\n');
    const hidden = renderSystemPrompt(defaultServers(), { date: '2026-01-15', hiddenTools: [['search_and_scrape_webpage', 'google_search']] });
    expect(hidden).not.toContain('### Tool name: google_search');
    expect(hidden).toContain('## Server name: search_and_scrape_webpage\n');
    const otherServer = renderSystemPrompt(defaultServers(), { date: '2026-01-15', hiddenTools: [['tool-python', 'google_search']] });
    expect(otherServer).toContain('### Tool name: google_search\n');
  });

  it('fills templates without reading $ patterns in the values', () => {
    expect(fillTemplate('Task: {task} ({task})', { task: 'Solve $$x^2$$ and $& and $1' })).toBe('Task: Solve $$x^2$$ and $& and $1 (Solve $$x^2$$ and $& and $1)');
    expect(fillTemplate('{task} {other}', { task: '{other}' })).toBe('{other} {other}');
  });

  it('dates the prompt with the local date, as date.today() does', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Shanghai';
    try {
      const early = new Date(Date.UTC(2026, 0, 14, 16, 30));
      expect(early.toISOString().slice(0, 10)).toBe('2026-01-14');
      expect(localDate(early)).toBe('2026-01-15');
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('writes the date, starts with the head and ends with the main objective', () => {
    const prompt = renderSystemPrompt([], { date: '1999-12-31' });
    expect(prompt).toContain('Today is: 1999-12-31\n');
    expect(prompt).not.toContain('{date}');
    expect(prompt.startsWith('In this environment you have access')).toBe(true);
    expect(prompt.endsWith('well-reasoned answers using additional tools.')).toBe(true);
  });
});

describe('pyStrip', () => {
  it('strips what Python strips, and keeps the BOM that JavaScript would trim', () => {
    expect(pyStrip(' \t\n\x1c\x85\u3000a b\u2029\v ')).toBe('a b');
    expect(pyStrip('\ufeffa')).toBe('\ufeffa');
  });
});

describe('firstUserMessage', () => {
  it('appends the format instruction', () => {
    expect(firstUserMessage('What is 2+2?')).toBe(`What is 2+2?${SUFFIX}`);
    expect(firstUserMessage('  What is 2+2?\n')).toBe(`What is 2+2?\n${SUFFIX}`);
  });

  it('appends an attached text file after the instruction, as MiroThinker does', () => {
    const message = firstUserMessage('Sum the column.', { name: 'data.csv', text: 'a\n1\n2' });
    expect(message).toBe(
      `Sum the column.${SUFFIX}\n\nNote: A csv file 'data.csv' is associated with this task. The content has been extracted as text below. ` +
        'You may use available tools to process its content if necessary. If you need to further process this file in the sandbox, ' +
        "please upload it to the sandbox first.\n\n## CSV File\nFile: data.csv\n\n```\na\n1\n2\n```",
    );
  });

  it('names the file kind by its extension and quotes captions of media files', () => {
    expect(fileSection({ name: 'paper.PDF', text: 'x' })).toContain("Note: A PDF file 'paper.PDF' is associated");
    expect(fileSection({ name: 'sheet.xlsx', text: 'x' })).toContain('extracted as a markdown table below');
    expect(fileSection({ name: 'notes', text: 'x' })).toContain("Note: A file 'notes' is associated");
    expect(fileSection({ name: 'notes', text: 'x' })).toContain('## File Content\nFile: notes\n\n');
    expect(fileSection({ name: 'cat.png', text: 'A cat.' })).toMatch(/## Image Content\nFile: cat\.png\n\n> A cat\.\n\n$/);
  });

  it('cuts long file content at 200,000 characters', () => {
    const section = fileSection({ name: 'big.txt', text: 'x'.repeat(200_001) });
    expect(section).toContain('x'.repeat(200_000) + '\n... [File truncated]\n```\n');
    expect(section).not.toContain('x'.repeat(200_001));
  });
});
