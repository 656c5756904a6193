import { describe, expect, it } from 'vitest';
import { bestPassages, chunk, passageCost, rankPassages, tokenize } from '../src/bm25.js';

const FILLER = [
  'The committee met on several occasions to review the budget and the schedule of the works.',
  'Members discussed the maintenance of roads, the timetable of the ferries and the state of the harbour walls.',
  'Most of the sessions ended without a decision, and the minutes record long debates about procedure.',
  'Visitors to the town often remark on the narrow streets, the market square and the old customs house.',
];

function filler(paragraphs: number, seed = 0): string {
  return Array.from({ length: paragraphs }, (_, i) => FILLER[(i + seed) % FILLER.length]).join('\n\n');
}

describe('tokenize', () => {
  it('lower-cases, drops stop words and strips common suffixes', () => {
    expect(tokenize('The Running dogs were studied in 1873')).toEqual(['run', 'dog', 'study', '1873']);
    expect(tokenize('What is the capital of France?')).toEqual(['capital', 'france']);
  });

  it('keeps accented and non-Latin words, and pairs characters of unspaced scripts', () => {
    expect(tokenize('Café naïve Москва')).toEqual(['café', 'naïve', 'москва']);
    expect(tokenize('东京大学')).toEqual(['东京', '京大', '大学']);
    expect(tokenize('GPT4模型 字')).toEqual(['gpt4', '模型', '字']);
  });
});

describe('chunk', () => {
  const markdown = [
    '# Guide',
    'Intro paragraph about the guide.',
    '## Install',
    'Run the installer.',
    '```sh',
    '# not a heading',
    'make install',
    '```',
    '### Linux',
    'Use the package manager.',
    'Setext Title\n============',
    'Under the setext heading.',
  ].join('\n\n');

  it('starts a passage at every heading and remembers the heading path and offset', () => {
    const passages = chunk(markdown);
    expect(passages.map((passage) => passage.headings)).toEqual([['Guide'], ['Guide', 'Install'], ['Guide', 'Install', 'Linux'], ['Setext Title']]);
    for (const passage of passages) expect(markdown.slice(passage.offset, passage.offset + passage.text.length)).toBe(passage.text);
    expect(passages[1]!.text).toContain('# not a heading');
    expect(passages.map((passage) => passage.index)).toEqual([0, 1, 2, 3]);
  });

  it('keeps paragraphs together up to the target and never cuts inside a word', () => {
    const page = `# Long\n\n${filler(30)}\n\n${'word '.repeat(700)}\n\n${'x'.repeat(2000)}`;
    const passages = chunk(page, { targetChars: 400 });
    expect(passages.length).toBeGreaterThan(10);
    for (const passage of passages) {
      expect(passage.text.length).toBeLessThanOrEqual(400);
      const before = page[passage.offset - 1];
      const after = page[passage.offset + passage.text.length];
      if (!passage.text.startsWith('x')) {
        expect(before === undefined || /\s/.test(before)).toBe(true);
        expect(after === undefined || /\s/.test(after)).toBe(true);
      }
    }
    const joined = passages.filter((passage) => passage.text.includes('committee'));
    expect(joined.some((passage) => passage.text.includes('\n\n'))).toBe(true);
  });

  it('handles empty and heading-only pages', () => {
    expect(chunk('')).toEqual([]);
    expect(chunk('# Only a heading\n\n## Another')).toEqual([]);
  });
});

describe('rankPassages', () => {
  const passages = chunk(
    [
      '# Harbour town',
      filler(3),
      '## Lighthouse',
      'The Zanzibar lighthouse was completed in 1873 by the engineer Mary Quill, after four years of works.',
      '## Market',
      filler(3, 2),
    ].join('\n\n'),
  );

  it('puts the passage that answers the question first', () => {
    const ranked = rankPassages(passages, 'When was the Zanzibar lighthouse completed?');
    expect(ranked[0]!.text).toContain('1873');
    expect(ranked[0]!.score).toBeGreaterThan(ranked[1]!.score);
  });

  it('counts heading words, and takes k1 and b', () => {
    const ranked = rankPassages(passages, 'market', { k1: 2, b: 0.5 });
    expect(ranked[0]!.headings).toEqual(['Harbour town', 'Market']);
  });

  it('scores nothing when the question has only stop words', () => {
    expect(rankPassages(passages, 'what is it?').every((passage) => passage.score === 0)).toBe(true);
  });
});

describe('bestPassages', () => {
  const sections = Array.from({ length: 40 }, (_, i) => `## Section ${i + 1}\n\n${filler(4, i)}`);
  sections.splice(27, 0, '## Records\n\nThe tallest lighthouse in the archipelago stands 67 metres above the sea at Cape Orin.');
  const page = `# Archipelago\n\n${sections.join('\n\n')}`;

  it('returns the best passages that fit, in document order, with heading and score', () => {
    const best = bestPassages(page, 'How tall is the tallest lighthouse?', 1500);
    expect(best.some((passage) => passage.text.includes('67 metres') && passage.heading === 'Archipelago > Records')).toBe(true);
    expect(best.reduce((sum, passage) => sum + passageCost(passage), 0)).toBeLessThanOrEqual(1500);
    expect(best.map((passage) => passage.offset)).toEqual([...best.map((passage) => passage.offset)].sort((a, b) => a - b));
    expect(best.every((passage) => passage.score > 0)).toBe(true);
  });

  it('falls back to the opening passages when nothing matches, and trims one passage to a tiny budget', () => {
    const opening = bestPassages(page, 'quantum chromodynamics', 600);
    expect(opening[0]!.headings).toEqual(['Archipelago', 'Section 1']);
    expect(opening.every((passage) => passage.score === 0)).toBe(true);
    const tiny = bestPassages(page, 'tallest lighthouse', 60);
    expect(tiny).toHaveLength(1);
    expect(passageCost(tiny[0]!)).toBeLessThanOrEqual(60);
  });

  it('is linear: a 1 MB page in well under a second', () => {
    const words = 'harbour ferry budget committee timetable market customs street square minutes debate procedure'.split(' ');
    const parts: string[] = [];
    let size = 0;
    for (let n = 0; size < 1_000_000; n++) {
      const paragraph = Array.from({ length: 60 }, (_, i) => words[(i * 7 + n) % words.length]).join(' ') + '.';
      const part = n % 20 === 0 ? `## Part ${n}\n\n${paragraph}` : paragraph;
      parts.push(part);
      size += part.length + 2;
    }
    parts.splice(800, 0, 'The Zanzibar lighthouse was completed in 1873.');
    const big = parts.join('\n\n');
    bestPassages(big, 'warm up', 8000);
    const started = performance.now();
    const best = bestPassages(big, 'When was the Zanzibar lighthouse completed?', 8000);
    const elapsed = performance.now() - started;
    expect(best.map((passage) => passage.text).join('\n')).toContain('1873');
    expect(elapsed).toBeLessThan(5000);
  });
});
