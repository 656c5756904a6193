import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { charsetOf, decodeText } from '../src/convert/decode.js';

describe('decodeText', () => {
  it('honours byte-order marks', () => {
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]))).toEqual({ text: 'hi', encoding: 'utf-8' });
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]))).toEqual({ text: 'hi', encoding: 'utf-16le' });
    expect(decodeText(new Uint8Array([0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]))).toEqual({ text: 'hi', encoding: 'utf-16be' });
  });

  it('recognises UTF-16 without a byte-order mark, also mostly CJK', () => {
    for (const text of ['name,city\nZoë,Köln\n', '名前,都市\n東京,日本\n', '東京都の人口は約千四百万人です。\n大阪\n']) {
      expect(decodeText(iconv.encode(text, 'utf-16le'))).toEqual({ text, encoding: 'utf-16le' });
      expect(decodeText(iconv.encode(text, 'utf-16be'))).toEqual({ text, encoding: 'utf-16be' });
    }
  });

  it('prefers valid UTF-8, and a declared charset over guessing', () => {
    expect(decodeText(Buffer.from('naïve — ok'))).toEqual({ text: 'naïve — ok', encoding: 'utf-8' });
    expect(decodeText(iconv.encode('Καλημέρα', 'iso-8859-7'), 'text/html; charset="ISO-8859-7"')).toEqual({ text: 'Καλημέρα', encoding: 'iso-8859-7' });
    expect(decodeText(iconv.encode('€5 “quoted”', 'windows-1252'), 'latin1')).toEqual({ text: '€5 “quoted”', encoding: 'windows-1252' });
  });

  it('distrusts a Latin-1 label over valid multi-byte UTF-8', () => {
    expect(decodeText(Buffer.from('café'), 'text/plain; charset=iso-8859-1')).toEqual({ text: 'café', encoding: 'utf-8' });
    expect(decodeText(Buffer.from('plain'), 'text/plain; charset=iso-8859-1').encoding).toBe('windows-1252');
  });

  const samples: [string, string, string][] = [
    ['windows-1252', 'windows-1252', 'Nom;Ville;Prix\nCafé;Québec;3,50\nThé;Genève;2,10\n'],
    ['windows-1252', 'windows-1252', 'a,b\nné,x\n'],
    ['windows-1252', 'windows-1252', 'GRÜßE aus Köln\n'],
    ['windows-1252', 'windows-1252', 'Señor José Núñez, año 2024: ¿qué tal? ¡Olé!\n'],
    ['windows-1252', 'windows-1252', '“Smart quotes” — and €5\n'],
    ['Shift_JIS', 'shift_jis', 'こんにちは世界\n'],
    ['Shift_JIS', 'shift_jis', 'テスト'],
    ['Shift_JIS', 'shift_jis', 'id,名前\n1,山田太郎\n2,佐藤花子\n'],
    ['GBK', 'gb18030', '你好世界\n'],
    ['GBK', 'gb18030', '产品,价格\n苹果,5元\n'],
    ['Big5', 'big5', '台北市,人口\n繁體中文測試\n'],
    ['EUC-KR', 'euc-kr', '안녕하세요 세계\n서울,한국\n'],
    ['EUC-JP', 'euc-jp', 'こんにちは、東京都です。\n'],
    ['windows-1251', 'windows-1251', 'Привет\n'],
    ['windows-1251', 'windows-1251', 'Город;Страна\nКиев;Украина\n'],
    ['windows-1250', 'windows-1250', 'Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.\n'],
    ['windows-1254', 'windows-1254', 'Türkçe metin: şehir, ığdır, göç.\n'],
  ];

  it.each(samples)('guesses %s for short text: %s', (encoding, expected, text) => {
    expect(decodeText(iconv.encode(text, encoding))).toEqual({ text, encoding: expected });
  });

  it('guesses from a sample of long text, and decodes all of it', () => {
    const text = '東京都の人口は約千四百万人です。'.repeat(10_000);
    const result = decodeText(iconv.encode(text, 'Shift_JIS'));
    expect(result.encoding).toBe('shift_jis');
    expect(result.text).toBe(text);
  });

  it('reads the charset of a Content-Type', () => {
    expect(charsetOf('text/csv; charset=Shift_JIS')).toBe('Shift_JIS');
    expect(charsetOf('text/csv')).toBeUndefined();
  });
});
