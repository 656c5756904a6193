import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAttachment } from '../src/agent.js';
import { readTasks } from '../src/eval.js';
import { firstUserMessage } from '../src/protocol/index.js';

const dir = mkdtempSync(join(tmpdir(), 'fathom-attachment-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SUFFIX = '\nYou should follow the format instruction in the request strictly and wrap the final answer in \\boxed{}.';
const note = (noun: string, path: string, as: string) =>
  `\n\nNote: ${noun} '${path}' is associated with this task. The content has been extracted as ${as} below. You may use available tools to process its content if necessary. If you need to further process this file in the sandbox, please upload it to the sandbox first.\n\n`;

describe('attachments as MiroThinker attaches them (process_input in input_handler.py)', () => {
  it('a GAIA task line with file_name: the file by its absolute path, a CSV as it is', async () => {
    const csv = 'year,ships\n1897,312\n1898,  298 \n';
    writeFileSync(join(dir, 'ships.csv'), csv);
    writeFileSync(join(dir, 'tasks.jsonl'), '{"task_id":"a","Question":"How many ships in 1898?","Final answer":"298","file_name":"ships.csv","Level":1}\n');
    const [task] = readTasks(join(dir, 'tasks.jsonl'));
    const attachment = await readAttachment(task!.file!);
    const path = join(dir, 'ships.csv');
    expect(attachment).toEqual({ name: path, text: csv });
    expect(firstUserMessage(task!.question, attachment)).toBe(`How many ships in 1898?${SUFFIX}${note('A csv file', path, 'text')}## CSV File\nFile: ${path}\n\n\`\`\`\n${csv}\n\`\`\``);
  });

  it('JSON re-indented as json.dumps(indent=2, ensure_ascii=False) writes it', async () => {
    writeFileSync(join(dir, 'data.json'), '{"name":"Zoë","list":[1,2,{"x":null}],"empty":[]}');
    const attachment = await readAttachment(join(dir, 'data.json'));
    expect(attachment.text).toBe('{\n  "name": "Zoë",\n  "list": [\n    1,\n    2,\n    {\n      "x": null\n    }\n  ],\n  "empty": []\n}');
    expect(firstUserMessage('Q', attachment)).toContain(`${note('A JSON file', join(dir, 'data.json'), 'JSON format')}## JSON File\nFile: ${join(dir, 'data.json')}`);
  });

  it('a relative path is made absolute; a missing file says which', async () => {
    writeFileSync(join(dir, 'notes.md'), '# Notes\n');
    expect((await readAttachment(relative(process.cwd(), join(dir, 'notes.md')))).name).toBe(join(dir, 'notes.md'));
    await expect(readAttachment(join(dir, 'none.pdf'))).rejects.toThrow(`Cannot read the attached file ${join(dir, 'none.pdf')}: ENOENT`);
  });
});
