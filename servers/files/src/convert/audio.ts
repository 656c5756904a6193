import { FathomError } from '@fathom/core';
import { parseBuffer } from 'music-metadata';
import type { IAudioMetadata } from 'music-metadata';
import { tidy } from './markdown.js';
import type { ConvertedDocument, ConvertInput, ConvertOptions, Converter } from './types.js';

const TRANSCRIBE_TIMEOUT_MS = 10 * 60 * 1000;

function corrupt(detail: string): FathomError {
  return new FathomError('invalid_argument', `Corrupt audio file: ${detail}`, {
    hint: 'The file is truncated, damaged or not audio; check that it plays in a media player.',
  });
}

/** 3725.4 to "1:02:05". */
export function clock(seconds: number): string {
  const total = Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(total / 3600)}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

function properties(metadata: IAudioMetadata): Record<string, string | number | boolean> {
  const { format, common } = metadata;
  const comment = common.comment?.map((c) => c.text).filter(Boolean).join(' / ');
  const all: Record<string, string | number | boolean | undefined> = {
    container: format.container,
    codec: format.codec,
    lossless: format.lossless,
    duration: format.duration === undefined ? undefined : clock(format.duration),
    durationSeconds: format.duration === undefined ? undefined : Math.round(format.duration * 1000) / 1000,
    bitrate: format.bitrate === undefined ? undefined : Math.round(format.bitrate),
    sampleRate: format.sampleRate,
    channels: format.numberOfChannels,
    bitsPerSample: format.bitsPerSample,
    title: common.title,
    artist: common.artist,
    album: common.album,
    year: common.year,
    genre: common.genre?.join(', ') || undefined,
    track: common.track.no === null ? undefined : common.track.of ? `${common.track.no}/${common.track.of}` : common.track.no,
    comment: comment || undefined,
  };
  return Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined && entry[1] !== ''));
}

function describe(p: Record<string, string | number | boolean>): string {
  const technical = [
    p.duration && `Duration: ${p.duration}`,
    [p.codec ?? p.container, p.bitrate && `${Math.round(Number(p.bitrate) / 1000)} kbit/s`, p.sampleRate && `${p.sampleRate} Hz`, p.channels && (p.channels === 1 ? 'mono' : p.channels === 2 ? 'stereo' : `${p.channels} channels`)]
      .filter(Boolean)
      .join(', '),
  ];
  const tags = (['title', 'artist', 'album', 'year', 'genre', 'track', 'comment'] as const).map((key) => p[key] !== undefined && `${key[0]!.toUpperCase()}${key.slice(1)}: ${p[key]}`);
  return [...technical, ...tags]
    .filter((line): line is string => typeof line === 'string' && line !== '')
    .map((line) => `- ${line}`)
    .join('\n');
}

/** OpenAI's `POST /v1/audio/transcriptions` (also served by whisper.cpp, faster-whisper, vLLM, Groq...). */
async function transcribe(input: ConvertInput, settings: NonNullable<ConvertOptions['transcribe']>, mimeType: string): Promise<string> {
  const form = new FormData();
  const name = input.name?.split(/[?#]/)[0]?.split('/').pop() || `audio.${mimeType.split('/')[1] ?? 'bin'}`;
  form.append('file', new Blob([input.bytes as Uint8Array<ArrayBuffer>], { type: mimeType }), name);
  form.append('model', settings.model);
  form.append('response_format', 'json');
  const response = await fetch(settings.url, {
    method: 'POST',
    body: form,
    headers: settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {},
    signal: AbortSignal.timeout(TRANSCRIBE_TIMEOUT_MS),
  });
  const body = await response.text();
  if (!response.ok) {
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: keep the start of the body
    }
    throw new Error(`HTTP ${response.status}${message ? `: ${message.replace(/\s+/g, ' ').trim()}` : ''}`);
  }
  try {
    const text = (JSON.parse(body) as { text?: unknown }).text;
    if (typeof text === 'string') return text;
  } catch {
    // a server that ignores response_format answers plain text
    return body;
  }
  throw new Error('the answer has no "text" field');
}

export const converter: Converter = {
  types: ['audio'],
  async convert(input, _type, options): Promise<ConvertedDocument> {
    let metadata: IAudioMetadata;
    try {
      metadata = await parseBuffer(input.bytes, { ...(input.mimeType ? { mimeType: input.mimeType } : {}), ...(input.name ? { path: input.name } : {}) }, { duration: true, skipCovers: true });
    } catch (error) {
      throw corrupt(`it could not be parsed (${error instanceof Error ? error.message : String(error)})`);
    }
    if (!metadata.format.container && metadata.format.duration === undefined) throw corrupt('no audio stream was found');

    const facts = properties(metadata);
    const mimeType = input.mimeType?.startsWith('audio/') ? input.mimeType.split(';')[0]! : mimeOf(metadata.format.container);
    const name = input.name?.split(/[?#]/)[0]?.split('/').pop();
    const title = metadata.common.title;
    const parts = [`# ${title ?? (name ? `Audio: ${name}` : 'Audio')}`, describe(facts)];
    // music-metadata's quality warnings are left out: it flags every WAV whose data chunk comes last.
    const notes: string[] = [];

    if (options.transcribe) {
      try {
        const transcript = tidy(await transcribe(input, options.transcribe, mimeType));
        parts.push(`### Transcript\n\n${transcript || '*(no speech recognised)*'}`);
      } catch (error) {
        notes.push(`Transcription failed: ${failure(error).replace(/\.+$/, '')}.`);
      }
    }

    return {
      info: {
        type: 'audio',
        mimeType,
        ...(title ? { title } : {}),
        ...(metadata.common.artist ? { author: metadata.common.artist } : {}),
        ...(metadata.common.year ? { created: String(metadata.common.year) } : {}),
        ...(notes.length ? { notes } : {}),
        properties: facts,
      },
      sections: [{ kind: 'body', index: 1, name: 'audio', markdown: parts.join('\n\n') }],
    };
  },
};

function failure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'the transcription service did not answer in time';
  const code = (error.cause as { code?: string } | undefined)?.code;
  return code ? `the transcription service could not be reached (${code})` : error.message;
}

function mimeOf(container: string | undefined): string {
  const c = (container ?? '').toLowerCase();
  if (c.includes('mpeg')) return 'audio/mpeg';
  if (c.includes('wave')) return 'audio/wav';
  if (c.includes('flac')) return 'audio/flac';
  if (c.includes('ogg')) return 'audio/ogg';
  if (c.includes('m4a') || c.includes('mp4') || c.includes('isom')) return 'audio/mp4';
  if (c.includes('asf')) return 'audio/x-ms-wma';
  return 'audio/*';
}
