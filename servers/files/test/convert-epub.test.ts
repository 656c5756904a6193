import JSZip from 'jszip';
import { beforeAll, describe, expect, it } from 'vitest';
import { convert, DEFAULT_LIMITS, DEFAULT_OPTIONS } from '../src/convert/index.js';
import type { ConvertedDocument } from '../src/convert/index.js';
import { converter } from '../src/convert/epub.js';

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

function xhtml(title: string, body: string, selfClosingTitle = false): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head>${selfClosingTitle ? '<title/>' : `<title>${title}</title>`}<link rel="stylesheet" href="../style.css"/><style>p { color: red }</style></head>
<body>${body}</body>
</html>`;
}

async function epub(files: Record<string, string | Uint8Array>): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('mimetype', 'application/epub+zip', { compression: 'STORE' });
  for (const [path, content] of Object.entries(files)) zip.file(path, content);
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}

const CONTAINER = `<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>`;

const CHAPTER_ONE = xhtml(
  'One',
  `<section epub:type="chapter"><h1>The Beginning</h1>
   <p>It was a <em>dark</em> and stormy night.</p>
   <table><thead><tr><th>Name</th><th>Role</th></tr></thead><tbody><tr><td>Ada</td><td>Captain</td></tr><tr><td>Bo</td><td>Cook</td></tr></tbody></table>
   <p><img src="../images/ship.png" alt="The ship"/></p>
   <p><a id="anchor"/>After the anchor the story goes on.</p>
   <script>alert("never")</script></section>`,
);
const CHAPTER_TWO = xhtml('Two', `<p>No heading here, only prose about the sea.</p><p><img src="data:image/png;base64,${PNG_BASE64}" alt="inline"/></p>`);
const APPENDIX = xhtml('Appendix', '<p>Answers to the exercises.</p>');

const EPUB3_OPF = `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:uuid:1234</dc:identifier>
    <dc:title>The Voyage</dc:title>
    <dc:creator id="author">Jane Writer</dc:creator>
    <meta refines="#author" property="role" scheme="marc:relators">aut</meta>
    <dc:creator id="translator">Tom Tongue</dc:creator>
    <meta refines="#translator" property="role" scheme="marc:relators">trl</meta>
    <dc:publisher>Harbour Press</dc:publisher>
    <dc:description>&lt;p&gt;A voyage across the &lt;em&gt;northern&lt;/em&gt; sea.&lt;/p&gt;&lt;p&gt;Second paragraph.&lt;/p&gt;</dc:description>
    <dc:date>2021-05-04</dc:date>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2022-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/>
    <item id="app" href="text/appendix.xhtml" media-type="application/xhtml+xml"/>
    <item id="img" href="images/ship.png" media-type="image/png"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine>
    <itemref idref="app" linear="no"/>
    <itemref idref="c1"/>
    <itemref idref="c2"/>
  </spine>
</package>`;

const NAV = xhtml(
  'Contents',
  `<nav epub:type="landmarks"><ol><li><a href="text/two.xhtml">Wrong list</a></li></ol></nav>
   <nav epub:type="toc"><h1>Contents</h1><ol>
     <li><a href="text/one.xhtml">Chapter 1: The Beginning</a></li>
     <li><a href="text/two.xhtml#start">Chapter 2: At Sea</a></li>
     <li><a href="text/appendix.xhtml">Appendix</a></li>
   </ol></nav>`,
);

const EPUB2_OPF = `<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>Old Tales</dc:title>
    <dc:creator opf:role="aut">Ann Author</dc:creator>
    <dc:creator opf:role="aut">Bob Author</dc:creator>
    <dc:creator opf:role="edt">Eve Editor</dc:creator>
    <dc:description>Tales told
      of old.</dc:description>
    <dc:date opf:event="modification">2010-02-02</dc:date>
    <dc:date opf:event="publication">1999</dc:date>
    <dc:language>fr</dc:language>
  </metadata>
  <manifest>
    <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
    <item id="a" href="a.html" media-type="application/xhtml+xml"/>
    <item id="b" href="b%20part.html" media-type="application/xhtml+xml"/>
    <item id="c" href="c.html" media-type="application/xhtml+xml"/>
  </manifest>
  <spine toc="ncx"><itemref idref="a"/><itemref idref="b"/><itemref idref="c"/></spine>
</package>`;

const NCX = `<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
  <head/><docTitle><text>Old Tales</text></docTitle>
  <navMap>
    <navPoint id="p1" playOrder="1"><navLabel><text>First Tale</text></navLabel><content src="a.html"/>
      <navPoint id="p1a" playOrder="2"><navLabel><text>A Part of It</text></navLabel><content src="a.html#part"/></navPoint>
    </navPoint>
    <navPoint id="p2" playOrder="3"><navLabel><text>Second &amp; Last Tale</text></navLabel><content src="b%20part.html"/></navPoint>
  </navMap>
</ncx>`;

const NO_TAGS = /<\/?[a-z][\w:-]*[\s>/]/i;

describe('EPUB 3', () => {
  let document: ConvertedDocument;
  beforeAll(async () => {
    const bytes = await epub({
      'META-INF/container.xml': CONTAINER,
      'OEBPS/content.opf': EPUB3_OPF,
      'OEBPS/nav.xhtml': NAV,
      'OEBPS/text/one.xhtml': CHAPTER_ONE,
      'OEBPS/text/two.xhtml': CHAPTER_TWO,
      'OEBPS/text/appendix.xhtml': APPENDIX,
      'OEBPS/images/ship.png': Buffer.from(PNG_BASE64, 'base64'),
      'OEBPS/style.css': 'p { margin: 0 }',
    });
    document = await convert({ bytes, name: 'voyage.epub' });
  });

  it('reads the metadata and the nav table of contents', () => {
    expect(document.info).toMatchObject({
      type: 'epub',
      mimeType: 'application/epub+zip',
      title: 'The Voyage',
      author: 'Jane Writer',
      created: '2021-05-04',
      modified: '2022-01-01T00:00:00Z',
      outline: ['Chapter 1: The Beginning', 'Chapter 2: At Sea', 'Appendix'],
      properties: { language: 'en', publisher: 'Harbour Press', chapters: 3, epubVersion: '3.0' },
    });
  });

  it("puts the book's title page first: title, authors, publisher, date and description", () => {
    expect(document.sections[0]!.markdown).toMatch(
      /^# The Voyage\n\n- Authors: Jane Writer, Tom Tongue \(translator\)\n- Publisher: Harbour Press\n- Published: 2021-05-04\n\nA voyage across the \*northern\* sea\.\n\nSecond paragraph\.\n\n# The Beginning\n/,
    );
    expect(document.sections[1]!.markdown).not.toContain('Harbour Press');
  });

  it('gives one chapter section per spine item, linear ones first', () => {
    expect(document.sections.map((section) => [section.kind, section.index, section.name])).toEqual([
      ['chapter', 1, 'Chapter 1: The Beginning'],
      ['chapter', 2, 'Chapter 2: At Sea'],
      ['chapter', 3, 'Appendix'],
    ]);
  });

  it('keeps a heading the chapter has and adds one where it has none', () => {
    const [one, two, appendix] = document.sections;
    expect(one!.markdown).toMatch(/\n\n# The Beginning\n/);
    expect(one!.markdown).toContain('It was a *dark* and stormy night.');
    expect(one!.markdown).toContain('After the anchor the story goes on.');
    expect(two!.markdown.startsWith('## Chapter 2: At Sea\n\nNo heading here, only prose about the sea.')).toBe(true);
    expect(appendix!.markdown).toBe('## Appendix\n\nAnswers to the exercises.');
  });

  it('converts tables and lists them in section.tables', () => {
    const one = document.sections[0]!;
    expect(one.markdown.replace(/ +/g, ' ')).toContain('| Name | Role |\n| --- | --- |\n| Ada | Captain |\n| Bo | Cook |');
    expect(one.tables).toEqual([{ location: 'chapter 1, table 1', header: ['Name', 'Role'], rows: [['Ada', 'Captain'], ['Bo', 'Cook']] }]);
  });

  it('names images by their path in the book and never inlines base64', () => {
    const text = document.sections.map((section) => section.markdown).join('\n');
    expect(text).toContain('![The ship](OEBPS/images/ship.png)');
    expect(text).not.toContain('../');
    expect(text).not.toContain(PNG_BASE64.slice(0, 20));
    expect(text).not.toContain('base64');
    expect(text).not.toMatch(NO_TAGS);
    expect(text).not.toContain('alert');
    expect(text).not.toContain('color: red');
  });
});

describe('EPUB 2', () => {
  let document: ConvertedDocument;
  beforeAll(async () => {
    const bytes = await epub({
      'META-INF/container.xml': CONTAINER.replace('OEBPS/content.opf', 'book.opf'),
      'book.opf': EPUB2_OPF,
      'toc.ncx': NCX,
      'a.html': xhtml('A', '<div><h2>Tale One</h2><p>Once upon a time.</p></div>', true),
      'b part.html': xhtml('B', '<p>Plain text with no heading.</p>'),
      'c.html': xhtml('C', '<p>Untitled <b>bonus</b> pages.</p><h3>Late Heading</h3>'),
    });
    document = await convert({ bytes, name: 'tales.epub' });
  });

  it('reads the NCX table of contents and the OPF 2 metadata', () => {
    expect(document.info).toMatchObject({
      title: 'Old Tales',
      author: 'Ann Author, Bob Author',
      created: '1999',
      outline: ['First Tale', 'A Part of It', 'Second & Last Tale'],
      properties: { language: 'fr', chapters: 3, epubVersion: '2.0' },
    });
  });

  it('names chapters from the NCX, then the first heading, then the file name', () => {
    expect(document.sections.map((section) => section.name)).toEqual(['First Tale', 'Second & Last Tale', 'Late Heading']);
    expect(document.sections[0]!.markdown).toBe(
      '# Old Tales\n\n- Authors: Ann Author, Bob Author, Eve Editor (editor)\n- Published: 1999\n\nTales told of old.\n\n## Tale One\n\nOnce upon a time.',
    );
    expect(document.sections[1]!.markdown).toBe('## Second & Last Tale\n\nPlain text with no heading.');
    expect(document.sections[2]!.markdown.startsWith('## Late Heading\n\nUntitled **bonus** pages.')).toBe(true);
  });
});

describe('damaged and locked EPUBs', () => {
  it('reports a truncated file as a corrupt EPUB', async () => {
    const bytes = await epub({ 'META-INF/container.xml': CONTAINER, 'OEBPS/content.opf': EPUB3_OPF, 'OEBPS/text/one.xhtml': CHAPTER_ONE });
    const error = await converter.convert({ bytes: bytes.subarray(0, bytes.length - 40) }, 'epub', DEFAULT_OPTIONS, convert).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'FathomError', code: 'invalid_argument', message: expect.stringMatching(/^Corrupt EPUB: /) });
    expect((error as { hint?: string }).hint).toBeTruthy();
  });

  it('reports an EPUB without a package document', async () => {
    const bytes = await epub({ 'OEBPS/text/one.xhtml': CHAPTER_ONE });
    await expect(convert({ bytes, name: 'broken.epub' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringContaining('Corrupt EPUB: it has no package document'),
    });
  });

  it('reports a malformed package document', async () => {
    const bytes = await epub({ 'META-INF/container.xml': CONTAINER, 'OEBPS/content.opf': EPUB3_OPF.slice(0, 400) });
    await expect(convert({ bytes, name: 'broken.epub' })).rejects.toMatchObject({ message: expect.stringMatching(/^Corrupt EPUB: the package document .* is not well-formed XML/) });
  });

  it('refuses an EPUB that expands beyond the size limit', async () => {
    const bytes = await epub({ 'META-INF/container.xml': CONTAINER, 'OEBPS/content.opf': EPUB3_OPF, 'OEBPS/text/one.xhtml': xhtml('Big', '<p>la</p>'.repeat(50_000)) });
    await expect(convert({ bytes, name: 'big.epub' }, { limits: { ...DEFAULT_LIMITS, maxBytes: 100_000 } })).rejects.toMatchObject({
      code: 'too_large',
      message: expect.stringMatching(/^The EPUB expands to \d+ bytes, over the 100000-byte limit$/),
    });
  });

  it('refuses a DRM-encrypted EPUB but not one with obfuscated fonts only', async () => {
    const encryption = (algorithm: string, uri: string) => `<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData><enc:EncryptionMethod Algorithm="${algorithm}"/><enc:CipherData><enc:CipherReference URI="${uri}"/></enc:CipherData></enc:EncryptedData>
</encryption>`;
    const files = { 'META-INF/container.xml': CONTAINER, 'OEBPS/content.opf': EPUB3_OPF, 'OEBPS/nav.xhtml': NAV, 'OEBPS/text/two.xhtml': CHAPTER_TWO, 'OEBPS/text/appendix.xhtml': APPENDIX };
    const locked = await epub({ ...files, 'OEBPS/text/one.xhtml': new Uint8Array([1, 2, 3, 250, 251]), 'META-INF/encryption.xml': encryption('http://www.w3.org/2001/04/xmlenc#aes128-cbc', 'OEBPS/text/one.xhtml') });
    await expect(convert({ bytes: locked, name: 'locked.epub' })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: 'Encrypted EPUB (DRM): its chapters cannot be read',
    });
    const fonts = await epub({ ...files, 'OEBPS/text/one.xhtml': CHAPTER_ONE, 'META-INF/encryption.xml': encryption('http://www.idpf.org/2008/embedding', 'OEBPS/fonts/serif.otf') });
    const document = await convert({ bytes: fonts, name: 'fonts.epub' });
    expect(document.sections).toHaveLength(3);
  });
});
