import { describe, expect, it } from 'vitest';
import { convert } from '../src/convert/index.js';

const encode = (text: string) => new TextEncoder().encode(text);
const NO_TAGS = /<\/?[a-z][\w:-]*[\s>/]/i;

describe('JSON', () => {
  it('shows an array of flat records as a table over the union of keys', async () => {
    const records = [
      { id: 1, name: 'Ada', tags: ['x', 'y'] },
      { id: 2, name: 'Bo | Co', active: true },
      { id: 3, note: null },
    ];
    const document = await convert({ bytes: encode(JSON.stringify(records)), name: 'people.json' });
    expect(document.info).toMatchObject({ type: 'json', mimeType: 'application/json', properties: { records: 3 } });
    expect(document.sections).toHaveLength(1);
    const [section] = document.sections;
    expect(section!.markdown).toBe(
      [
        '## Records 1–3 of 3',
        '',
        '| id | name | tags | active | note |',
        '| --- | --- | --- | --- | --- |',
        '| 1 | Ada | ["x","y"] |  |  |',
        '| 2 | Bo \\| Co |  | true |  |',
        '| 3 |  |  |  |  |',
      ].join('\n'),
    );
    expect(section!.tables).toEqual([
      {
        location: 'records 1–3 of 3',
        header: ['id', 'name', 'tags', 'active', 'note'],
        rows: [
          ['1', 'Ada', '["x","y"]', '', ''],
          ['2', 'Bo | Co', '', 'true', ''],
          ['3', '', '', '', ''],
        ],
      },
    ]);
  });

  it('pages long record lists 500 rows to a section and caps the columns', async () => {
    const records = Array.from({ length: 1200 }, (_, i) => Object.fromEntries(Array.from({ length: 35 }, (_, c) => [`f${c}`, i * 100 + c])));
    const document = await convert({ bytes: encode(JSON.stringify(records)), name: 'big.json' });
    expect(document.sections.map((section) => section.markdown.split('\n')[0])).toEqual([
      '## Records 1–500 of 1200',
      '## Records 501–1000 of 1200',
      '## Records 1001–1200 of 1200',
    ]);
    expect(document.sections.map((section) => section.index)).toEqual([1, 2, 3]);
    const second = document.sections[1]!;
    expect(second.tables![0]!.rows).toHaveLength(500);
    expect(second.tables![0]!.header).toHaveLength(30);
    expect(second.tables![0]!.rows[0]![0]).toBe('50000');
    expect(document.info.notes).toEqual(['35 fields; the table shows the first 30, leaving out f30, f31, f32, f33, f34']);
  });

  it('pretty-prints nested JSON in a json fence', async () => {
    const value = { name: 'demo', nested: { list: [1, 2, { deep: true }] } };
    const document = await convert({ bytes: encode(JSON.stringify(value)), name: 'config.json' });
    expect(document.sections[0]!.markdown).toBe('```json\n' + JSON.stringify(value, null, 2) + '\n```');
    expect(document.info.properties).toEqual({ keys: 'name, nested' });
  });

  it('does not make a table of empty objects', async () => {
    const document = await convert({ bytes: encode('[{}, {}]'), name: 'empty.json' });
    expect(document.sections[0]!.markdown).toBe('```json\n[\n  {},\n  {}\n]\n```');
  });

  it('keeps JSON text as written when reformatting would round big integers', async () => {
    const text = '{"id":12345678901234567890,"ok":true}';
    const document = await convert({ bytes: encode(text), name: 'ids.json' });
    expect(document.sections[0]!.markdown).toBe('```json\n' + text + '\n```');
  });

  it('names the line and column of malformed JSON', async () => {
    await expect(convert({ bytes: encode('{\n  "a": 1,\n  "b": tru\n}'), name: 'bad.json' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Invalid JSON: .* at line 3, column \d+$/),
    });
  });
});

describe('JSON Lines', () => {
  it('tables flat records and notes the bad lines instead of failing', async () => {
    const text = '{"t": 1, "msg": "start"}\n{"t": 2, "msg": "run"\n\n{"t": 3, "msg": "stop"}\nnot json\n';
    const document = await convert({ bytes: encode(text), name: 'log.jsonl' });
    expect(document.info.notes).toEqual(['2 lines are not valid JSON and were skipped: 2, 5']);
    expect(document.sections[0]!.tables![0]).toMatchObject({ header: ['t', 'msg'], rows: [['1', 'start'], ['3', 'stop']] });
    expect(document.sections[0]!.markdown.startsWith('## Records 1–2 of 2\n\n| t | msg |')).toBe(true);
  });

  it('pretty-prints each line when the lines are not flat records', async () => {
    const text = '{"a": {"b": {"c": [' + '1,'.repeat(60) + '1]}}}\n[1, 2]\n';
    const document = await convert({ bytes: encode(text), name: 'mixed.ndjson' });
    const markdown = document.sections[0]!.markdown;
    expect(markdown.startsWith('Line 1:\n\n```json\n{\n  "a": {\n    "b": {')).toBe(true);
    expect(markdown).toContain('Line 2:\n\n```json\n[\n  1,\n  2\n]\n```');
  });

  it('fails only when no line is valid JSON', async () => {
    await expect(convert({ bytes: encode('nope\nstill nope\n'), name: 'bad.jsonl' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Invalid JSONL: no line is valid JSON \(line 1: /),
    });
  });
});

describe('YAML', () => {
  it('fences the YAML as written and lists the top-level keys', async () => {
    const text = '# service\nname: api\nreplicas: 3\nenv:\n  - DEBUG=1\n---\nkind: Second\n';
    const document = await convert({ bytes: encode(text), name: 'deploy.yaml' });
    expect(document.sections[0]!.markdown).toBe('```yaml\n' + text.trim() + '\n```');
    expect(document.info.properties).toEqual({ documents: 2, keys: 'name, replicas, env' });
  });

  it('names the line of invalid YAML', async () => {
    await expect(convert({ bytes: encode('a: 1\nb: [1, 2\nc: 3\n'), name: 'bad.yml' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Invalid YAML: .+ at line 3$/),
    });
  });

  it('does not expand alias bombs', async () => {
    const text = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${`*${String.fromCharCode(97 + i)},`.repeat(9)}]`)].join('\n');
    const document = await convert({ bytes: encode(text), name: 'bomb.yaml' });
    expect(document.sections[0]!.markdown).toBe('```yaml\n' + text + '\n```');
    expect(document.info.properties).toEqual({ documents: 1, keys: 'a, b, c, d, e, f, g, h, i' });
  });
});

describe('XML', () => {
  it('renders elements as a nested outline without tags', async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!-- catalogue -->
<catalog xmlns="urn:books" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <book id="b1" lang="en">
    <dc:title>Learning &amp; Teaching &#x2014; A Guide</dc:title>
    <price currency="EUR">12.50</price>
    <summary><![CDATA[Uses <b>bold</b> claims & more.]]></summary>
  </book>
  <book id="b2"><dc:title>Second</dc:title><empty/></book>
</catalog>`;
    const document = await convert({ bytes: encode(xml), name: 'catalog.xml' });
    expect(document.info.properties).toEqual({ root: 'catalog', elements: 8 });
    expect(document.sections[0]!.markdown).toBe(
      [
        '- **catalog**',
        '  - **book** (id=b1, lang=en)',
        '    - **dc:title**: Learning & Teaching — A Guide',
        '    - **price** (currency=EUR): 12.50',
        '    - **summary**: Uses <b>bold</b> claims & more.',
        '  - **book** (id=b2)',
        '    - **dc:title**: Second',
        '    - **empty**',
      ].join('\n'),
    );
  });

  it('decodes the encoding the XML declaration names', async () => {
    const bytes = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><city name="Zürich">Straße</city>', 'latin1');
    const document = await convert({ bytes, name: 'city.xml' });
    expect(document.sections[0]!.markdown).toBe('- **city** (name=Zürich): Straße');
  });

  it('caps the depth of the outline', async () => {
    const xml = '<?xml version="1.0"?>' + '<n>'.repeat(40) + 'bottom' + '</n>'.repeat(40);
    const markdown = (await convert({ bytes: encode(xml), name: 'deep.xml' })).sections[0]!.markdown;
    expect(markdown).not.toContain('bottom');
    expect(markdown).toContain('- … 24 more deeply nested elements');
    expect(markdown).not.toMatch(NO_TAGS);
  });

  it('never expands DTD entities (billion laughs)', async () => {
    const entities = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
    const xml = `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${entities.join('\n')}\n]>\n<lolz><laugh>&lol9;</laugh></lolz>`;
    const document = await convert({ bytes: encode(xml), name: 'lolz.xml' });
    expect(document.sections[0]!.markdown).toBe('- **lolz**\n  - **laugh**: &lol9;');
    expect(document.sections[0]!.markdown).not.toContain('lollol');
  });

  it('names the problem and line of malformed XML', async () => {
    await expect(convert({ bytes: encode('<?xml version="1.0"?>\n<a>\n  <b></a>\n'), name: 'bad.xml' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Invalid XML: Expected closing tag 'b'.* at line 3$/),
    });
  });
});
