import { describe, expect, it } from 'vitest';
import { convert } from '../src/convert/index.js';

const encode = (text: string) => new TextEncoder().encode(text);
const NO_TAGS = /<\/?[a-z][\w:-]*[\s>/]/i;

const RSS2 = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>Tide &amp; Time</title>
  <link>https://tide.example/</link>
  <atom:link href="https://tide.example/feed.xml" rel="self" type="application/rss+xml"/>
  <description>News from the &lt;b&gt;harbour&lt;/b&gt;</description>
  <language>en-gb</language>
  <lastBuildDate>Tue, 02 Jan 2024 10:00:00 GMT</lastBuildDate>
  <item>
    <title>Storm warning</title>
    <link>https://tide.example/storm</link>
    <pubDate>Tue, 02 Jan 2024 09:00:00 GMT</pubDate>
    <dc:creator>Harbour Master</dc:creator>
    <category>weather</category>
    <description><![CDATA[<p>Short teaser only.</p>]]></description>
    <content:encoded><![CDATA[<h3>Gale force</h3><p>Winds of <strong>90 km/h</strong> expected. <a href="/boats">Secure boats</a>.</p>
      <table><tr><th>Day</th><th>Wind</th></tr><tr><td>Mon</td><td>90</td></tr></table>
      <script>track()</script><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">]]></content:encoded>
  </item>
  <item>
    <title>Podcast: episode 7</title>
    <link>https://tide.example/ep7</link>
    <author>editor@tide.example (The Editor)</author>
    <description>Tom &amp;amp; Jerry &lt;em&gt;sail&lt;/em&gt; &amp;mdash; again.</description>
    <enclosure url="https://cdn.tide.example/ep%207.mp3" length="12582912" type="audio/mpeg"/>
  </item>
  <item>
    <description>An item with no title.</description>
  </item>
</channel>
</rss>`;

const ATOM = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title type="text">Atom Notes</title>
  <subtitle type="html">Notes &amp;amp; &lt;i&gt;thoughts&lt;/i&gt;</subtitle>
  <link rel="self" href="https://notes.example/atom.xml"/>
  <link href="https://notes.example/"/>
  <updated>2024-03-01T12:00:00Z</updated>
  <author><name>Nora</name></author>
  <id>urn:uuid:feed</id>
  <entry>
    <title type="html">First &lt;em&gt;post&lt;/em&gt;</title>
    <link rel="alternate" href="https://notes.example/first"/>
    <link rel="enclosure" href="https://notes.example/slides.pdf" type="application/pdf" length="2048"/>
    <id>urn:uuid:1</id>
    <published>2024-02-28T08:00:00Z</published>
    <updated>2024-02-29T08:00:00Z</updated>
    <author><name>Nora</name></author>
    <category term="notes"/>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <b>world</b>&#160;and a <a href="/more">link</a>.<br/>Next line &amp; more.</p><ul><li>one</li><li>two</li></ul></div></content>
  </entry>
  <entry>
    <title>Second</title>
    <link href="https://notes.example/second"/>
    <id>urn:uuid:2</id>
    <updated>2024-03-01T12:00:00Z</updated>
    <summary type="html">&lt;p&gt;Only a &lt;strong&gt;summary&lt;/strong&gt;.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Third</title>
    <id>urn:uuid:3</id>
    <updated>2024-03-01T12:00:00Z</updated>
    <content type="text">Plain text with &lt;angle&gt; brackets.</content>
  </entry>
</feed>`;

const RSS1 = `<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://old.example/">
    <title>Old School</title>
    <link>https://old.example/</link>
    <description>An RSS 1.0 channel</description>
    <dc:date>2003-12-13T18:30:02Z</dc:date>
    <items><rdf:Seq><rdf:li resource="https://old.example/a"/><rdf:li resource="https://old.example/b"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://old.example/a">
    <title>Alpha</title>
    <link>https://old.example/a</link>
    <description>First &lt;b&gt;one&lt;/b&gt;.</description>
    <dc:date>2003-12-13T18:30:02Z</dc:date>
    <dc:creator>Olga</dc:creator>
  </item>
  <item rdf:about="https://old.example/b">
    <title>Beta</title>
    <description>Second one.</description>
  </item>
</rdf:RDF>`;

function allMarkdown(sections: { markdown: string }[]): string {
  return sections.map((section) => section.markdown).join('\n\n');
}

describe('RSS 2.0', () => {
  it('gives one item section per item with a meta line and the full content', async () => {
    const document = await convert({ bytes: encode(RSS2), name: 'feed.rss' });
    expect(document.info).toMatchObject({
      type: 'feed',
      title: 'Tide & Time',
      modified: 'Tue, 02 Jan 2024 10:00:00 GMT',
      outline: ['Storm warning', 'Podcast: episode 7', 'Item 3'],
      properties: {
        format: 'RSS 2.0',
        items: 3,
        description: 'News from the harbour',
        link: 'https://tide.example/',
        language: 'en-gb',
        updated: 'Tue, 02 Jan 2024 10:00:00 GMT',
      },
    });
    expect(document.sections.map((section) => [section.kind, section.index, section.name])).toEqual([
      ['item', 1, 'Storm warning'],
      ['item', 2, 'Podcast: episode 7'],
      ['item', 3, 'Item 3'],
    ]);
    const [storm, podcast, untitled] = document.sections;
    expect(storm!.markdown.startsWith('# Tide & Time\n\nNews from the harbour\n\nhttps://tide.example/\n\n## Storm warning\n\nTue, 02 Jan 2024 09:00:00 GMT · Harbour Master · https://tide.example/storm\n\n### Gale force')).toBe(true);
    expect(storm!.markdown).toContain('Winds of **90 km/h** expected. [Secure boats](https://tide.example/boats).');
    expect(storm!.markdown).not.toContain('Short teaser');
    expect(storm!.markdown).toContain('Categories: weather');
    expect(storm!.tables).toEqual([{ location: 'item 1, table 1', header: ['Day', 'Wind'], rows: [['Mon', '90']] }]);
    expect(podcast!.markdown.startsWith('## Podcast: episode 7\n\n')).toBe(true);
    expect(podcast!.markdown).toContain('Tom & Jerry *sail* — again.');
    expect(podcast!.markdown).toContain('Enclosures:\n- [ep 7.mp3](https://cdn.tide.example/ep%207.mp3) (audio/mpeg, 12.0 MB)');
    expect(untitled!.markdown).toBe('## Item 3\n\nAn item with no title.');
  });

  it('never shows tags, CDATA markers, scripts or base64', async () => {
    const markdown = allMarkdown((await convert({ bytes: encode(RSS2), name: 'feed.rss' })).sections);
    expect(markdown).not.toMatch(NO_TAGS);
    expect(markdown).not.toContain('CDATA');
    expect(markdown).not.toContain('track()');
    expect(markdown).not.toContain('base64');
    expect(markdown).not.toContain('&lt;');
  });
});

describe('Atom', () => {
  it('reads entries with XHTML, HTML and text content', async () => {
    const document = await convert({ bytes: encode(ATOM), name: 'notes.atom' });
    expect(document.info).toMatchObject({
      mimeType: 'application/atom+xml',
      title: 'Atom Notes',
      author: 'Nora',
      modified: '2024-03-01T12:00:00Z',
      properties: { format: 'Atom', items: 3, description: 'Notes & thoughts', link: 'https://notes.example/', language: 'de' },
    });
    const [first, second, third] = document.sections;
    expect(first!.name).toBe('First post');
    expect(first!.markdown.startsWith('# Atom Notes\n\nNotes & thoughts\n\nhttps://notes.example/\n\n## First post\n\n2024-02-28T08:00:00Z · Nora · https://notes.example/first')).toBe(true);
    expect(second!.markdown.startsWith('## Second')).toBe(true);
    expect(first!.markdown).toContain('Hello **world**\u00a0and a [link](https://notes.example/more).');
    expect(first!.markdown).toContain('Next line & more.');
    expect(first!.markdown).toContain('- one\n- two');
    expect(first!.markdown).toContain('Categories: notes');
    expect(first!.markdown).toContain('Enclosures:\n- [slides.pdf](https://notes.example/slides.pdf) (application/pdf, 2.0 KB)');
    expect(second!.markdown).toBe('## Second\n\n2024-03-01T12:00:00Z · https://notes.example/second\n\nOnly a **summary**.');
    expect(third!.markdown).toBe('## Third\n\n2024-03-01T12:00:00Z\n\nPlain text with <angle> brackets.');
    expect(allMarkdown(document.sections)).not.toMatch(/<\/?(div|p|b|ul|li|a|br)\b/);
  });
});

describe('RSS 1.0', () => {
  it('reads items that sit beside the channel', async () => {
    const document = await convert({ bytes: encode(RSS1), name: 'old.rdf', mimeType: 'application/rss+xml' });
    expect(document.info).toMatchObject({ title: 'Old School', modified: '2003-12-13T18:30:02Z', properties: { format: 'RSS 1.0', items: 2 } });
    expect(document.sections.map((section) => section.markdown)).toEqual([
      '# Old School\n\nAn RSS 1.0 channel\n\nhttps://old.example/\n\n## Alpha\n\n2003-12-13T18:30:02Z · Olga · https://old.example/a\n\nFirst **one**.',
      '## Beta\n\nhttps://old.example/b\n\nSecond one.',
    ]);
  });
});

describe('malformed feeds', () => {
  it('names the XML problem and its line', async () => {
    const broken = RSS2.replace('</item>', '');
    await expect(convert({ bytes: encode(broken), name: 'feed.rss' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Invalid feed: Expected closing tag 'item'.* at line \d+$/),
    });
  });

  it('refuses XML that is not a feed', async () => {
    await expect(convert({ bytes: encode('<?xml version="1.0"?><catalog><book/></catalog>'), name: 'x.rss' })).rejects.toMatchObject({
      message: 'Invalid feed: the root element is "catalog", not rss, rdf:RDF or feed',
    });
  });

  it('shows a feed without items as one body section', async () => {
    const empty = '<rss version="2.0"><channel><title>Quiet</title><description>Nothing yet</description></channel></rss>';
    const document = await convert({ bytes: encode(empty), name: 'quiet.rss' });
    expect(document.sections).toEqual([{ kind: 'body', index: 1, name: 'body', markdown: '# Quiet\n\nNothing yet\n\n(The feed has no items.)' }]);
  });
});
