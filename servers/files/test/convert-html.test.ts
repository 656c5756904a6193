import { describe, expect, it } from 'vitest';
import { htmlToMarkdown } from '../src/convert/index.js';

const article = (sentences: number) => 'The tide rises twice a day along this coast, and the harbour keeps a record of it. '.repeat(sentences);

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
