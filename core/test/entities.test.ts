import { describe, expect, it } from 'vitest';
import { decodeHtmlEntities } from '@fathom/core';

describe('decodeHtmlEntities', () => {
  it('decodes named entities, decimal and hex references', () => {
    expect(decodeHtmlEntities('A &amp; B&nbsp;&#x27;c&#39; &mdash; &hellip;&copy;&euro;')).toBe("A & B\u00A0'c' — …©€");
    expect(decodeHtmlEntities('&lt;b&gt; &quot;q&quot; &apos;a&apos; &#X2014;&#0065;')).toBe('<b> "q" \'a\' —A');
  });

  it('leaves unknown names and text without references as written', () => {
    expect(decodeHtmlEntities('&lol9; &notaname; & alone &amp')).toBe('&lol9; &notaname; & alone &amp');
    expect(decodeHtmlEntities('&constructor; &toString;')).toBe('&constructor; &toString;');
    expect(decodeHtmlEntities('plain')).toBe('plain');
  });

  it('turns references to no character into U+FFFD', () => {
    expect(decodeHtmlEntities('&#0;|&#x110000;|&#xD800;|&#99999999999;|&#x0000000041;')).toBe('\uFFFD|\uFFFD|\uFFFD|\uFFFD|A');
  });

  it('decodes only the five XML names with xmlOnly', () => {
    expect(decodeHtmlEntities('&amp;&lt;&gt;&quot;&apos; &nbsp;&mdash;&#160;', { xmlOnly: true })).toBe('&<>"\' &nbsp;&mdash;\u00A0');
  });
});
