import chardet from 'chardet';
import iconv from 'iconv-lite';

function charsetOf(mimeType: string | undefined): string | undefined {
  return /charset\s*=\s*"?([\w.:-]+)/i.exec(mimeType ?? '')?.[1];
}

/**
 * Bytes to text: a byte-order mark wins, then a declared charset (Content-Type or `<meta>`),
 * then UTF-8 when the bytes are valid UTF-8, then chardet's best guess (Shift_JIS, GBK,
 * windows-1252...).
 */
export function decodeText(bytes: Uint8Array, declared?: string): { text: string; encoding: string } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) return { text: buffer.subarray(3).toString('utf8'), encoding: 'utf-8' };
  if (buffer[0] === 0xff && buffer[1] === 0xfe) return { text: iconv.decode(buffer.subarray(2), 'utf-16le'), encoding: 'utf-16le' };
  if (buffer[0] === 0xfe && buffer[1] === 0xff) return { text: iconv.decode(buffer.subarray(2), 'utf-16be'), encoding: 'utf-16be' };
  const utf16 = utf16WithoutBom(buffer);
  if (utf16) return { text: iconv.decode(buffer, utf16), encoding: utf16 };
  const named = charsetOf(declared) ?? declared;
  if (named && iconv.encodingExists(named) && !/^utf-?8$/i.test(named)) return { text: iconv.decode(buffer, named), encoding: named.toLowerCase() };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  try {
    return { text: utf8.decode(buffer), encoding: 'utf-8' };
  } catch {
    const guess = chardet.detect(buffer.subarray(0, 64 * 1024));
    const encoding = guess && iconv.encodingExists(guess) ? guess : 'windows-1252';
    return { text: iconv.decode(buffer, encoding), encoding: encoding.toLowerCase() };
  }
}

/** UTF-16 text with no BOM shows as NUL bytes on every other position. */
function utf16WithoutBom(buffer: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  const sample = buffer.subarray(0, 4096);
  if (sample.length < 4) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < sample.length; i++) if (sample[i] === 0) (i % 2 === 0 ? evenZeros++ : oddZeros++);
  const half = sample.length / 2;
  if (oddZeros > half * 0.3 && evenZeros < half * 0.05) return 'utf-16le';
  if (evenZeros > half * 0.3 && oddZeros < half * 0.05) return 'utf-16be';
  return undefined;
}

export { charsetOf };
