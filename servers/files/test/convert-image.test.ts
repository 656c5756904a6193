import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FathomError } from '@fathom/core';
import { afterAll, describe, expect, it } from 'vitest';
import { closeOcr } from '../src/convert/image.js';
import { convert } from '../src/convert/index.js';

/** "Hello Fathom 42" in black on white, 520 × 140, a headless-Chromium screenshot. */
const HELLO = readFileSync(new URL('./fixtures/ocr-hello.png', import.meta.url));

type Tag = [tag: number, type: 2 | 3 | 4 | 5, value: string | number | number[]];

/** One TIFF image file directory (little-endian) starting at `start`, its long values after it. */
function ifd(tags: Tag[], start: number): Buffer {
  const head = Buffer.alloc(2 + tags.length * 12 + 4);
  const data: Buffer[] = [];
  let offset = start + head.length;
  head.writeUInt16LE(tags.length, 0);
  tags.forEach(([tag, type, value], i) => {
    const numbers = typeof value === 'string' ? [] : [value].flat();
    let bytes: Buffer;
    let count: number;
    if (typeof value === 'string') {
      bytes = Buffer.from(`${value}\0`, 'latin1');
      count = bytes.length;
    } else {
      const width = { 3: 2, 4: 4, 5: 4, 2: 1 }[type];
      bytes = Buffer.alloc(numbers.length * width);
      numbers.forEach((n, j) => (width === 2 ? bytes.writeUInt16LE(n, j * 2) : bytes.writeUInt32LE(n, j * 4)));
      count = type === 5 ? numbers.length / 2 : numbers.length;
    }
    const at = 2 + i * 12;
    head.writeUInt16LE(tag, at);
    head.writeUInt16LE(type, at + 2);
    head.writeUInt32LE(count, at + 4);
    if (bytes.length <= 4) {
      bytes.copy(head, at + 8);
    } else {
      head.writeUInt32LE(offset, at + 8);
      data.push(bytes);
      offset += bytes.length;
    }
  });
  return Buffer.concat([head, ...data]);
}

/** A baseline JPEG's markers (no scan data): an Exif APP1 segment and the frame header. */
function jpegWithExif(width: number, height: number): Buffer {
  const exifTags: Tag[] = [[0x9003, 2, '2023:07:14 16:20:05']];
  const gpsTags: Tag[] = [
    [0x0001, 2, 'N'],
    [0x0002, 5, [48, 1, 51, 1, 3024, 100]],
    [0x0003, 2, 'W'],
    [0x0004, 5, [2, 1, 17, 1, 4020, 100]],
  ];
  const ifd0 = (exifAt: number, gpsAt: number): Tag[] => [
    [0x010f, 2, 'Canon'],
    [0x0110, 2, 'Canon EOS 5D'],
    [0x0112, 3, 6],
    [0x0131, 2, 'Darktable 4.6'],
    [0x8769, 4, exifAt],
    [0x8825, 4, gpsAt],
  ];
  const first = ifd(ifd0(0, 0), 8);
  const exifAt = 8 + first.length;
  const exif = ifd(exifTags, exifAt);
  const gpsAt = exifAt + exif.length;
  const tiff = Buffer.concat([Buffer.from('II*\0\x08\0\0\0', 'latin1'), ifd(ifd0(exifAt, gpsAt), 8), exif, ifd(gpsTags, gpsAt)]);
  const app1 = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const length = (n: number) => Buffer.from([n >> 8, n & 255]);
  const frame = Buffer.from([8, height >> 8, height & 255, width >> 8, width & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe1]), length(app1.length + 2), app1,
    Buffer.from([0xff, 0xc0]), length(frame.length + 2), frame,
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A PNG signature and IHDR chunk: enough to state a size, with no pixels. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const chunk = Buffer.concat([Buffer.from('IHDR'), ihdr]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(chunk));
  const size = Buffer.alloc(4);
  size.writeUInt32BE(13);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), size, chunk, crc]);
}

afterAll(closeOcr);

describe('image converter', () => {
  it('reads the text in an image with OCR, offline, and gives its dimensions', async () => {
    const document = await convert({ bytes: HELLO, name: 'shots/ocr-hello.png' }, { ocr: true });
    expect(document.info).toMatchObject({ type: 'image', mimeType: 'image/png', properties: { format: 'png', width: 520, height: 140 } });
    expect(document.info.notes ?? []).toEqual([]);
    const markdown = document.sections[0]!.markdown;
    expect(markdown).toMatch(/^# Image: ocr-hello\.png\n\n- Format: PNG, 520 × 140 px\n\n### Text in the image \(OCR\)\n\n/);
    expect(markdown).toMatch(/Hello Fathom 42/);

    const again = await convert({ bytes: HELLO, name: 'again.png' }, { ocr: true });
    expect(again.sections[0]!.markdown).toMatch(/Hello Fathom 42/);
  });

  it('leaves OCR out when it is off', async () => {
    const document = await convert({ bytes: HELLO, name: 'ocr-hello.png' }, { ocr: false });
    expect(document.sections[0]!.markdown).toBe('# Image: ocr-hello.png\n\n- Format: PNG, 520 × 140 px');
  });

  it('reads EXIF: camera, date taken, GPS, orientation, software', async () => {
    const document = await convert({ bytes: jpegWithExif(640, 480), name: 'photo.jpg' }, { ocr: false });
    expect(document.info).toMatchObject({ type: 'image', mimeType: 'image/jpeg', created: '2023-07-14 16:20:05' });
    expect(document.info.properties).toMatchObject({
      format: 'jpg',
      width: 640,
      height: 480,
      cameraMake: 'Canon',
      cameraModel: 'Canon EOS 5D',
      dateTaken: '2023-07-14 16:20:05',
      orientation: 6,
      software: 'Darktable 4.6',
    });
    expect(document.info.properties?.latitude).toBeCloseTo(48.858400, 5);
    expect(document.info.properties?.longitude).toBeCloseTo(-2.294500, 5);
    expect(document.sections[0]!.markdown).toBe(
      [
        '# Image: photo.jpg',
        '',
        '- Format: JPG, 640 × 480 px',
        '- Camera: Canon Canon EOS 5D',
        '- Taken: 2023-07-14 16:20:05',
        '- GPS: 48.8584, -2.2945',
        '- Orientation: rotated 90° clockwise',
        '- Software: Darktable 4.6',
      ].join('\n'),
    );
  });

  it('keeps the metadata when OCR cannot read the pixels', async () => {
    const document = await convert({ bytes: jpegWithExif(64, 48), name: 'no-pixels.jpg' }, { ocr: true });
    expect(document.info.properties).toMatchObject({ width: 64, height: 48, cameraMake: 'Canon' });
    expect(document.info.notes).toHaveLength(1);
    expect(document.info.notes?.[0]).toMatch(/^OCR (failed on this image|found no text)/);
    expect(document.sections[0]!.markdown).not.toContain('### Text in the image');
  });

  it('skips OCR for very large images, with a note', async () => {
    const document = await convert({ bytes: pngHeader(8000, 6000), name: 'huge.png' }, { ocr: true });
    expect(document.info.properties).toMatchObject({ width: 8000, height: 6000 });
    expect(document.info.notes).toEqual(['OCR skipped: the image has 48 megapixels, over the 40-megapixel limit.']);
  });

  it('names a corrupt image', async () => {
    const error = await convert({ bytes: HELLO.subarray(0, 12), name: 'cut.png' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FathomError);
    expect((error as FathomError).code).toBe('invalid_argument');
    expect((error as FathomError).message).toBe('Corrupt or unsupported image: its header could not be read');
  });
});
