import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FathomError } from '@fathom/core';
import exifr from 'exifr';
import { imageSize } from 'image-size';
import Tesseract from 'tesseract.js';
import { tidy } from './markdown.js';
import type { ConvertedDocument, Converter } from './types.js';

/** Larger images are described but not read: OCR time and memory grow with the pixel count. */
const MAX_OCR_PIXELS = 40_000_000;
/** What tesseract's image library (leptonica) can decode. */
const OCR_FORMATS = new Set(['png', 'jpg', 'bmp', 'gif', 'tiff', 'webp', 'pnm']);

let ocrWorker: Promise<Tesseract.Worker> | undefined;

/** The language data from @tesseract.js-data/eng, read from disk: nothing is downloaded. */
function languageData(): { langPath: string; gzip: boolean } {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@tesseract.js-data/eng/package.json'));
  // The integer "best" model is what tesseract.js picks for the LSTM engine: smaller and faster.
  const langPath = [join(root, '4.0.0_best_int'), join(root, '4.0.0')].find((path) => existsSync(join(path, 'eng.traineddata.gz')));
  if (!langPath) throw new Error(`no eng.traineddata.gz under ${root}`);
  checkLanguageData(join(langPath, 'eng.traineddata.gz'));
  return { langPath, gzip: true };
}

/** Index of the LSTM model among a tessdata file's components. */
const TESSDATA_LSTM = 17;

/**
 * tesseract.js crashes its host thread when the language data is damaged (it answers a request it
 * has already failed), so the file is checked first: gzip, a tessdata header whose component
 * offsets lie inside the file, and an LSTM model.
 */
function checkLanguageData(file: string) {
  let data: Buffer;
  try {
    data = gunzipSync(readFileSync(file));
  } catch {
    throw new Error(`${file} is not a readable gzip file`);
  }
  const entries = data.length >= 4 ? data.readInt32LE(0) : 0;
  if (entries <= TESSDATA_LSTM || entries > 100 || data.length < 4 + entries * 8) throw new Error(`${file} is damaged`);
  const offsets = Array.from({ length: entries }, (_, i) => Number(data.readBigInt64LE(4 + i * 8)));
  if (offsets.some((offset) => offset < -1 || offset >= data.length)) throw new Error(`${file} is damaged`);
  if (offsets[TESSDATA_LSTM]! < 0) throw new Error(`${file} has no LSTM model`);
}

/** One tesseract worker per process, created on first use (it takes a moment) and reused. */
function ocr(): Promise<Tesseract.Worker> {
  if (!ocrWorker) {
    const { langPath, gzip } = languageData();
    // tesseract.js never settles createWorker() when the language data fails to load; its
    // errorHandler hears of it, so that rejects this promise instead.
    const created = new Promise<Tesseract.Worker>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the engine did not start within a minute')), 60_000);
      const settle = <T>(next: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        next(value);
      };
      Tesseract.createWorker('eng', Tesseract.OEM.LSTM_ONLY, {
        langPath,
        gzip,
        cacheMethod: 'none',
        errorHandler: settle((error: unknown) => reject(new Error(String(error)))),
      }).then(settle(resolve), settle(reject));
    });
    created.catch(() => {
      if (ocrWorker === created) ocrWorker = undefined;
    });
    ocrWorker = created;
  }
  return ocrWorker;
}

/** Stops the OCR worker, if one was started. */
export async function closeOcr(): Promise<void> {
  const worker = ocrWorker;
  ocrWorker = undefined;
  if (worker) await (await worker.catch(() => undefined))?.terminate();
}

type Exif = Record<string, unknown>;

async function readExif(bytes: Uint8Array): Promise<Exif | undefined> {
  try {
    return (await exifr.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      tiff: true,
      exif: true,
      gps: true,
      ifd1: false,
      interop: false,
      xmp: false,
      icc: false,
      iptc: false,
      jfif: false,
      ihdr: false,
      reviveValues: false,
      translateValues: false,
    })) as Exif | undefined;
  } catch {
    return undefined;
  }
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.replace(/\0+$/, '').trim() || undefined;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** EXIF dates are "2024:05:06 07:08:09" in the camera's local time, with no zone. */
function exifDate(value: unknown): string | undefined {
  const match = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)/.exec(text(value) ?? '');
  return match ? `${match[1]}-${match[2]}-${match[3]} ${match[4]}` : text(value);
}

function exifProperties(exif: Exif): Record<string, string | number> {
  const properties: Record<string, string | number | undefined> = {
    cameraMake: text(exif.Make),
    cameraModel: text(exif.Model),
    dateTaken: exifDate(exif.DateTimeOriginal ?? exif.CreateDate ?? exif.ModifyDate),
    latitude: typeof exif.latitude === 'number' ? Number(exif.latitude.toFixed(6)) : undefined,
    longitude: typeof exif.longitude === 'number' ? Number(exif.longitude.toFixed(6)) : undefined,
    orientation: typeof exif.Orientation === 'number' ? exif.Orientation : undefined,
    software: text(exif.Software),
    description: text(exif.ImageDescription),
    artist: text(exif.Artist),
    copyright: text(exif.Copyright),
  };
  return Object.fromEntries(Object.entries(properties).filter((entry): entry is [string, string | number] => entry[1] !== undefined));
}

const ORIENTATION = ['', 'normal', 'mirrored', 'rotated 180°', 'flipped vertically', 'mirrored, rotated 90° anticlockwise', 'rotated 90° clockwise', 'mirrored, rotated 90° clockwise', 'rotated 90° anticlockwise'];

function describe(properties: Record<string, string | number>): string[] {
  const lines = [`- Format: ${String(properties.format).toUpperCase()}, ${properties.width} × ${properties.height} px`];
  const camera = [properties.cameraMake, properties.cameraModel].filter(Boolean).join(' ');
  if (camera) lines.push(`- Camera: ${camera}`);
  if (properties.dateTaken) lines.push(`- Taken: ${properties.dateTaken}`);
  if (properties.latitude !== undefined && properties.longitude !== undefined) lines.push(`- GPS: ${properties.latitude}, ${properties.longitude}`);
  if (typeof properties.orientation === 'number' && properties.orientation > 1) lines.push(`- Orientation: ${ORIENTATION[properties.orientation] ?? properties.orientation}`);
  for (const [key, label] of [['software', 'Software'], ['description', 'Description'], ['artist', 'Artist'], ['copyright', 'Copyright']] as const) {
    if (properties[key]) lines.push(`- ${label}: ${properties[key]}`);
  }
  return lines;
}

async function recognize(bytes: Uint8Array, notes: string[]): Promise<string | undefined> {
  let worker: Tesseract.Worker;
  try {
    worker = await ocr();
  } catch (error) {
    notes.push(`OCR unavailable: the tesseract engine or its English language data could not be loaded (${error instanceof Error ? error.message : String(error)}).`);
    return undefined;
  }
  try {
    const result = await worker.recognize(Buffer.from(bytes));
    const found = tidy(result.data.text);
    if (!found) notes.push('OCR found no text in the image.');
    return found || undefined;
  } catch (error) {
    notes.push(`OCR failed on this image (${error instanceof Error ? error.message : String(error)}).`);
    return undefined;
  }
}

export const converter: Converter = {
  types: ['image'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    let size: ReturnType<typeof imageSize>;
    try {
      size = imageSize(input.bytes);
    } catch {
      throw new FathomError('invalid_argument', 'Corrupt or unsupported image: its header could not be read', {
        hint: 'The file is truncated, damaged, or in an image format that is not recognised; check it opens in an image viewer.',
      });
    }
    const format = size.type ?? 'image';
    const exif = await readExif(input.bytes);
    const properties: Record<string, string | number> = {
      format,
      width: size.width,
      height: size.height,
      ...(size.orientation ? { orientation: size.orientation } : {}),
      ...(exif ? exifProperties(exif) : {}),
    };
    const name = input.name?.split(/[?#]/)[0]?.split('/').pop();
    const parts = [`# ${name ? `Image: ${name}` : 'Image'}`, describe(properties).join('\n')];
    const notes: string[] = [];

    if (options.ocr) {
      const pixels = size.width * size.height;
      if (!OCR_FORMATS.has(format)) {
        notes.push(`OCR skipped: ${format.toUpperCase()} images cannot be read by the OCR engine.`);
      } else if (pixels > MAX_OCR_PIXELS) {
        notes.push(`OCR skipped: the image has ${Math.round(pixels / 1e6)} megapixels, over the ${MAX_OCR_PIXELS / 1e6}-megapixel limit.`);
      } else {
        const found = await recognize(input.bytes, notes);
        if (found) parts.push(`### Text in the image (OCR)\n\n${found}`);
      }
    }

    return {
      info: {
        type: 'image',
        mimeType: format === 'jpg' ? 'image/jpeg' : format === 'svg' ? 'image/svg+xml' : `image/${format}`,
        ...(typeof properties.description === 'string' ? { title: properties.description } : {}),
        ...(typeof properties.artist === 'string' ? { author: properties.artist } : {}),
        ...(typeof properties.dateTaken === 'string' ? { created: properties.dateTaken } : {}),
        ...(notes.length ? { notes } : {}),
        properties,
      },
      sections: [{ kind: 'body', index: 1, name: 'image', markdown: parts.join('\n\n') }],
    };
  },
};
