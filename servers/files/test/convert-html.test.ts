import { describe, expect, it } from 'vitest';
import { convert, htmlToMarkdown } from '../src/convert/index.js';

const encode = (text: string) => new TextEncoder().encode(text);
const article = (sentences: number) => 'The tide rises twice a day along this coast, and the harbour keeps a record of it. '.repeat(sentences);

/** The shape of a page makeinfo (GNU Texinfo 6.8) writes, as in libffi's manual: navigation header, rule, section heading. */
const TEXINFO = `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<html>
<!-- Created by GNU Texinfo 6.8, https://www.gnu.org/software/texinfo/ -->
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>Simple Example (libffi: the portable foreign function interface library)</title>
<meta name="description" content="Simple Example (libffi: the portable foreign function interface library)">
<meta name="Generator" content="makeinfo">
<link href="index.html" rel="start" title="Top">
<link href="Types.html" rel="next" title="Types">
<style type="text/css">
<!--
a.copiable-anchor {visibility: hidden; text-decoration: none; line-height: 0em}
div.example {margin-left: 3.2em}
-->
</style>
</head>
<body lang="en">
<div class="section" id="Simple-Example">
<div class="header">
<p>
Next: <a href="Types.html" accesskey="n" rel="next">Types</a>, Previous: <a href="The-Basics.html" accesskey="p" rel="prev">The Basics</a>, Up: <a href="Using-libffi.html" accesskey="u" rel="up">Using libffi</a> &nbsp; [<a href="Index.html" title="Index" rel="index">Index</a>]</p>
</div>
<hr>
<span id="Simple-Example-1"></span><h3 class="section">2.2 Simple Example</h3>

<p>Here is a trivial example that calls <code>puts</code> a few times.
</p>
<div class="example">
<pre class="example">#include &lt;stdio.h&gt;
#include &lt;ffi.h&gt;

int main()
{
  ffi_cif cif;
  ffi_type *args[1];
  void *values[1];
  char *s;
  ffi_arg rc;

  /* Initialize the argument info vectors */
  args[0] = &amp;ffi_type_pointer;
  values[0] = &amp;s;

  /* Initialize the cif */
  if (ffi_prep_cif(&amp;cif, FFI_DEFAULT_ABI, 1,
                   &amp;ffi_type_sint, args) == FFI_OK)
    {
      s = &quot;Hello World!&quot;;
      ffi_call(&amp;cif, puts, &amp;rc, values);
      /* rc now holds the result of the call to puts */
      s = &quot;This is cool!&quot;;
      ffi_call(&amp;cif, puts, &amp;rc, values);
    }

  return 0;
}
</pre></div>
</div>
</body>
</html>`;

describe('HTML titles and main content', () => {
  it("keeps a texinfo page's whole title and the section heading above its content", async () => {
    const document = await convert({ bytes: encode(TEXINFO), name: 'Simple-Example.html' });
    expect(document.info.title).toBe('Simple Example (libffi: the portable foreign function interface library)');
    const markdown = document.sections[0]!.markdown;
    expect(markdown.startsWith('# Simple Example (libffi: the portable foreign function interface library)\n\n### 2.2 Simple Example\n\nHere is a trivial example that calls `puts` a few times.\n\n```\n#include <stdio.h>')).toBe(true);
    expect(document.info.outline).toEqual(['2.2 Simple Example']);
    expect(markdown).not.toContain('Previous:');
  });

  it('still drops the site name after a separator, and a heading that only repeats the title', () => {
    const html = `<html><head><title>How the tide tables are made | Harbour News</title></head><body>
      <nav><a href="/">Home</a></nav><article><h1>How the tide tables are made</h1><p>${article(8)}</p><p>${article(6)}</p></article></body></html>`;
    const result = htmlToMarkdown(html);
    expect(result.title).toBe('How the tide tables are made');
    expect(result.markdown).toMatch(/^The tide rises twice a day/);
  });

  it('takes a title with a colon as written', () => {
    const html = `<html><head><title>Harbour records: a century of tides in the north</title></head><body>
      <main><h2>Method</h2><p>${article(8)}</p></main></body></html>`;
    expect(htmlToMarkdown(html).title).toBe('Harbour records: a century of tides in the north');
  });
});

describe('HTML links and headings', () => {
  const bing = (target: string) => `https://www.bing.com/ck/a?!&&p=2f0c1b9d&ptn=3&ver=2&hsh=4&fclid=1e2&u=a1${Buffer.from(target).toString('base64url')}&ntb=1`;

  it('decodes the redirect links of Bing, Google and DuckDuckGo result pages to their targets', () => {
    const html = `<html><body><ol>
      <li><a href="${bing('https://example.org/paper?id=1&lang=en')}">Bing result</a></li>
      <li><a href="/url?q=https://example.org/google-q%3Fa%3D1&amp;sa=U&amp;ved=2ahUKEw">Google q result</a></li>
      <li><a href="https://www.google.com/url?sa=t&amp;url=https%3A%2F%2Fexample.org%2Fgoogle-url&amp;usg=AOvVaw">Google url result</a></li>
      <li><a href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.org%2Fduck%3Fx%3D%C3%A9&amp;rut=abc123">DuckDuckGo result</a></li>
      <li><a href="https://www.bing.com/ck/a?u=a1bm90IGEgdXJs">Broken Bing link</a></li>
      <li><a href="https://www.google.com/url?q=javascript:alert(1)">Script link</a></li>
      <li><a href="https://tide.example/url?q=https://elsewhere.example/">Own link</a></li>
    </ol></body></html>`;
    const { markdown } = htmlToMarkdown(html, { mainContent: false });
    expect(markdown).toContain('[Bing result](https://example.org/paper?id=1&lang=en)');
    expect(markdown).toContain('[Google q result](https://example.org/google-q?a=1)');
    expect(markdown).toContain('[Google url result](https://example.org/google-url)');
    expect(markdown).toContain('[DuckDuckGo result](https://example.org/duck?x=%C3%A9)');
    expect(markdown).toContain('[Broken Bing link](https://www.bing.com/ck/a?u=a1bm90IGEgdXJs)');
    expect(markdown).toContain('[Script link](https://www.google.com/url?q=javascript:alert\\(1\\))');
    expect(markdown).toContain('[Own link](https://tide.example/url?q=https://elsewhere.example/)');
  });

  it('decodes a relative Google redirect against the page it came from', () => {
    const { markdown } = htmlToMarkdown('<p><a href="/url?q=https://example.org/a&amp;sa=U">A</a></p>', { url: 'https://www.google.co.uk/search?q=tides', mainContent: false });
    expect(markdown).toBe('[A](https://example.org/a)');
  });

  it('drops Sphinx and MkDocs permalink anchors from headings', () => {
    const html = `<html><head><title>Guide</title></head><body>
      <div class="body" role="main"><section id="install">
        <h1>Installing<a class="headerlink" href="#install" title="Link to this heading">¶</a></h1>
        <p>${article(6)}</p>
        <h2 id="options">Options<a class="headerlink" href="#options" title="Permanent link">&para;</a></h2>
        <p>${article(4)}</p>
        <h3 id="texinfo">Texinfo<a class="copiable-anchor" href="#texinfo"> &para;</a></h3>
        <dl><dt id="f">tide.height()<a class="headerlink" href="#f" title="Link to this definition">¶</a></dt><dd>The height.</dd></dl>
        <p>A <a href="#options">link to the options</a> and a section sign § in text.</p>
      </section></div></body></html>`;
    const result = htmlToMarkdown(html, { mainContent: false });
    expect(result.markdown).toContain('# Installing\n');
    expect(result.markdown).toContain('## Options\n');
    expect(result.markdown).toContain('### Texinfo\n');
    expect(result.markdown).toContain('tide.height()\n');
    expect(result.markdown).not.toContain('¶');
    expect(result.markdown).toContain('[link to the options](#options) and a section sign § in text.');
    expect(result.outline).toEqual(['Installing', 'Options', 'Texinfo']);
  });
});
