import { describe, expect, it } from 'vitest';
import { convert } from '../src/convert/index.js';

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const ESC = String.fromCharCode(27);

const notebookV4 = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
    language_info: { name: 'python', version: '3.11.4' },
  },
  cells: [
    { cell_type: 'markdown', metadata: {}, source: ['# Sales Analysis\n', '\n', 'We look at **sales**.\n', `![chart](data:image/png;base64,${PNG_BASE64})`] },
    {
      cell_type: 'code',
      execution_count: 1,
      metadata: {},
      source: ['import pandas as pd\n', 'print("loading")\n', 'df = pd.read_csv("sales.csv")\n', 'df.head(2)'],
      outputs: [
        { output_type: 'stream', name: 'stdout', text: ['loading\n'] },
        { output_type: 'stream', name: 'stderr', text: 'progress 10%\rprogress 50%\rprogress 100%\n' },
        {
          output_type: 'execute_result',
          execution_count: 1,
          metadata: {},
          data: {
            'text/plain': ['  region  total\n', '0  North    120\n', '1  South     80'],
            'text/html': [
              '<div><style scoped>.dataframe td { color: red }</style><table class="dataframe"><thead><tr><th></th><th>region</th><th>total</th></tr></thead>',
              '<tbody><tr><th>0</th><td>North</td><td>120</td></tr><tr><th>1</th><td>South</td><td>80</td></tr></tbody></table></div>',
            ],
          },
        },
      ],
    },
    {
      cell_type: 'code',
      execution_count: 2,
      metadata: {},
      source: 'df.plot()',
      outputs: [
        { output_type: 'display_data', metadata: {}, data: { 'image/png': PNG_BASE64, 'text/plain': ['<Figure size 640x480 with 1 Axes>'] } },
      ],
    },
    {
      cell_type: 'code',
      execution_count: 3,
      metadata: {},
      source: '1 / 0',
      outputs: [
        {
          output_type: 'error',
          ename: 'ZeroDivisionError',
          evalue: 'division by zero',
          traceback: [
            `${ESC}[0;31m---------------------------------------------------------------------------${ESC}[0m`,
            `${ESC}[0;31mZeroDivisionError${ESC}[0m                         Traceback (most recent call last)`,
            `Cell ${ESC}[0;32mIn[3], line 1${ESC}[0m\n${ESC}[0;32m----> 1${ESC}[0m ${ESC}[38;5;241m1${ESC}[39m ${ESC}[38;5;241m/${ESC}[39m ${ESC}[38;5;241m0${ESC}[39m`,
          ],
        },
      ],
    },
    { cell_type: 'code', execution_count: 4, metadata: {}, source: 'from IPython.display import Markdown\nMarkdown("**done**")', outputs: [{ output_type: 'execute_result', metadata: {}, data: { 'text/markdown': '**done**', 'text/plain': '<IPython.core.display.Markdown object>' } }] },
    { cell_type: 'raw', metadata: {}, source: 'Raw text: keep me.' },
    { cell_type: 'markdown', metadata: {}, source: '## Conclusion\n\n```python\n# not a heading\n```\nNorth sells more.' },
  ],
};

const notebookV3 = {
  nbformat: 3,
  nbformat_minor: 0,
  metadata: { name: 'old' },
  worksheets: [
    {
      cells: [
        { cell_type: 'heading', level: 1, source: ['Old Notebook'] },
        { cell_type: 'code', language: 'python', input: ['x = 21\n', 'x * 2'], outputs: [{ output_type: 'pyout', prompt_number: 1, text: ['42'] }] },
        { cell_type: 'code', language: 'python', input: 'plot(x)', outputs: [{ output_type: 'display_data', png: PNG_BASE64, text: ['<matplotlib.figure.Figure>'] }] },
        { cell_type: 'code', language: 'python', input: 'oops', outputs: [{ output_type: 'pyerr', ename: 'NameError', evalue: "name 'oops' is not defined", traceback: [`${ESC}[1;31mNameError${ESC}[0m: name 'oops' is not defined`] }] },
      ],
    },
  ],
};

function bytesOf(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 1));
}

describe('Jupyter notebooks', () => {
  it('writes markdown as is, code fenced with the kernel language, and text outputs fenced as output', async () => {
    const document = await convert({ bytes: bytesOf(notebookV4), name: 'analysis.ipynb' });
    expect(document.info).toMatchObject({
      type: 'ipynb',
      title: 'Sales Analysis',
      outline: ['Sales Analysis', 'Conclusion'],
      properties: { language: 'python', cells: 7, codeCells: 4, kernel: 'Python 3 (ipykernel)', nbformat: '4.5' },
    });
    expect(document.sections).toHaveLength(1);
    const [body] = document.sections;
    expect(body!.kind).toBe('body');
    const markdown = body!.markdown;
    expect(markdown.startsWith('# Sales Analysis\n\nWe look at **sales**.\n![chart](embedded image)')).toBe(true);
    expect(markdown).toContain('```python\nimport pandas as pd\nprint("loading")\ndf = pd.read_csv("sales.csv")\ndf.head(2)\n```\n\n```output\nloading\nprogress 100%\n```');
    expect(markdown).toContain('```python\ndf.plot()\n```\n\n[image output: image/png]');
    expect(markdown).toContain('```python\n1 / 0\n```\n\n```output\n');
    expect(markdown).toContain('Cell In[3], line 1\n----> 1 1 / 0\nZeroDivisionError: division by zero\n```');
    expect(markdown).toContain('Markdown("**done**")\n```\n\n**done**');
    expect(markdown).toContain('Raw text: keep me.');
    expect(markdown.endsWith('## Conclusion\n\n```python\n# not a heading\n```\nNorth sells more.')).toBe(true);

    expect(markdown.indexOf('# Sales Analysis')).toBeLessThan(markdown.indexOf('df.plot()'));
    expect(markdown.indexOf('df.plot()')).toBeLessThan(markdown.indexOf('1 / 0'));
  });

  it('turns HTML table outputs into tables and never shows base64, ANSI escapes or figure reprs', async () => {
    const document = await convert({ bytes: bytesOf(notebookV4), name: 'analysis.ipynb' });
    const body = document.sections[0]!;
    expect(body.markdown.replace(/ +/g, ' ')).toContain('| | region | total |\n| --- | --- | --- |\n| 0 | North | 120 |');
    expect(body.tables).toEqual([{ location: 'cell 2, table 1', header: ['', 'region', 'total'], rows: [['0', 'North', '120'], ['1', 'South', '80']] }]);
    expect(body.markdown).not.toContain(PNG_BASE64.slice(0, 16));
    expect(body.markdown).not.toContain('base64');
    expect(body.markdown).not.toContain(ESC);
    expect(body.markdown).not.toContain('[0;31m');
    expect(body.markdown).not.toContain('<Figure');
    expect(body.markdown).not.toContain('color: red');
    expect(body.markdown).not.toContain('progress 10%');
  });

  it('reads nbformat 3 worksheets', async () => {
    const document = await convert({ bytes: bytesOf(notebookV3), name: 'old.ipynb' });
    expect(document.info).toMatchObject({ title: 'Old Notebook', properties: { language: 'python', cells: 4, nbformat: '3.0' } });
    expect(document.sections[0]!.markdown).toBe(
      [
        '# Old Notebook',
        '```python\nx = 21\nx * 2\n```',
        '```output\n42\n```',
        '```python\nplot(x)\n```',
        '[image output: image/png]',
        '```python\noops\n```',
        "```output\nNameError: name 'oops' is not defined\n```",
      ].join('\n\n'),
    );
  });

  it('uses a longer fence when the code holds a fence', async () => {
    const notebook = { nbformat: 4, nbformat_minor: 2, metadata: { language_info: { name: 'r' } }, cells: [{ cell_type: 'code', source: 'cat("```")', outputs: [] }] };
    const document = await convert({ bytes: bytesOf(notebook), name: 'fence.ipynb' });
    expect(document.sections[0]!.markdown).toBe('````r\ncat("```")\n````');
  });

  it('reports malformed JSON and JSON that is not a notebook as a corrupt notebook', async () => {
    const broken = new TextEncoder().encode('{"nbformat": 4, "cells": [\n  {"cell_type": "code",,}\n]}');
    await expect(convert({ bytes: broken, name: 'broken.ipynb' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Corrupt notebook: the JSON is malformed: .* at line 2, column \d+$/),
    });
    await expect(convert({ bytes: bytesOf({ nbformat: 4, metadata: {} }), name: 'empty.ipynb' })).rejects.toMatchObject({
      message: expect.stringMatching(/^Corrupt notebook: it has no list of cells/),
    });
  });
});
