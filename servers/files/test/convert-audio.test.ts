import { FathomError } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTranscribeServer } from '../../../tests/fixtures/transcribe-server.js';
import type { TranscribeServer } from '../../../tests/fixtures/transcribe-server.js';
import { clock } from '../src/convert/audio.js';
import { convert } from '../src/convert/index.js';

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** `seconds` of 16-bit mono silence, with RIFF INFO tags. */
function wav(seconds: number, sampleRate: number, tags: Record<string, string> = {}): Buffer {
  const format = Buffer.alloc(16);
  format.writeUInt16LE(1, 0);
  format.writeUInt16LE(1, 2);
  format.writeUInt32LE(sampleRate, 4);
  format.writeUInt32LE(sampleRate * 2, 8);
  format.writeUInt16LE(2, 12);
  format.writeUInt16LE(16, 14);
  const info = Object.entries(tags).map(([id, value]) => chunk(id, Buffer.from(`${value}\0`, 'latin1')));
  const list = info.length ? [chunk('LIST', Buffer.concat([Buffer.from('INFO'), ...info]))] : [];
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', format), chunk('data', Buffer.alloc(seconds * sampleRate * 2)), ...list]);
  return chunk('RIFF', body);
}

/** An ID3v2.3 tag, then silent MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz, stereo. */
function mp3(frames: number): Buffer {
  const text = (id: string, value: string) => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.from(value, 'latin1')]);
    const head = Buffer.alloc(10);
    head.write(id, 0, 'latin1');
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const comment = (() => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.from('eng'), Buffer.from([0]), Buffer.from('Recorded live', 'latin1')]);
    const head = Buffer.alloc(10);
    head.write('COMM', 0, 'latin1');
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  })();
  const framesData = Buffer.concat([
    text('TIT2', 'Morning Briefing'),
    text('TPE1', 'Fathom Radio'),
    text('TALB', 'Daily Notes'),
    text('TYER', '2024'),
    text('TCON', 'Podcast'),
    text('TRCK', '3/12'),
    comment,
  ]);
  const size = framesData.length;
  const syncsafe = Buffer.from([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127]);
  const id3 = Buffer.concat([Buffer.from('ID3'), Buffer.from([3, 0, 0]), syncsafe, framesData]);
  const frame = Buffer.alloc(417);
  frame.set([0xff, 0xfb, 0x90, 0x00]);
  return Buffer.concat([id3, ...Array.from({ length: frames }, () => frame)]);
}

let server: TranscribeServer;
beforeAll(async () => {
  server = await startTranscribeServer({ text: 'Hello from the fake transcriber.', apiKey: 'sk-test' });
});
afterAll(() => server.close());

describe('audio converter', () => {
  it('reads a WAV: duration, codec, sample rate, channels and INFO tags', async () => {
    const bytes = wav(2, 8000, { INAM: 'Field recording', IART: 'Dana', ICRD: '2023', IGNR: 'Ambient', ICMT: 'Quiet room' });
    const document = await convert({ bytes, name: 'room.wav' });
    expect(document.info).toMatchObject({ type: 'audio', mimeType: 'audio/wav', title: 'Field recording', author: 'Dana', created: '2023' });
    expect(document.info.properties).toMatchObject({
      container: 'WAVE',
      codec: 'PCM',
      duration: '0:00:02',
      durationSeconds: 2,
      sampleRate: 8000,
      channels: 1,
      bitsPerSample: 16,
      bitrate: 128000,
      title: 'Field recording',
      artist: 'Dana',
      year: 2023,
      genre: 'Ambient',
      comment: 'Quiet room',
    });
    expect(document.sections[0]!.markdown).toBe(
      [
        '# Field recording',
        '',
        '- Duration: 0:00:02',
        '- PCM, 128 kbit/s, 8000 Hz, mono',
        '- Title: Field recording',
        '- Artist: Dana',
        '- Year: 2023',
        '- Genre: Ambient',
        '- Comment: Quiet room',
      ].join('\n'),
    );
  });

  it('reads an MP3 with ID3v2 tags', async () => {
    const document = await convert({ bytes: mp3(40), name: 'briefing.mp3' });
    expect(document.info).toMatchObject({ type: 'audio', mimeType: 'audio/mpeg', title: 'Morning Briefing', author: 'Fathom Radio' });
    expect(document.info.properties).toMatchObject({
      container: 'MPEG',
      codec: 'MPEG 1 Layer 3',
      bitrate: 128000,
      sampleRate: 44100,
      channels: 2,
      duration: '0:00:01',
      album: 'Daily Notes',
      year: 2024,
      genre: 'Podcast',
      track: '3/12',
      comment: 'Recorded live',
    });
    const markdown = document.sections[0]!.markdown;
    expect(markdown).toMatch(/^# Morning Briefing\n\n- Duration: 0:00:01\n- MPEG 1 Layer 3, 128 kbit\/s, 44100 Hz, stereo\n/);
    expect(markdown).toContain('- Album: Daily Notes\n- Year: 2024\n- Genre: Podcast\n- Track: 3/12\n- Comment: Recorded live');
  });

  it('sends the audio to an OpenAI-compatible endpoint and adds the transcript', async () => {
    const before = server.requests.length;
    const bytes = wav(1, 8000);
    const document = await convert({ bytes, name: 'clips/speech.wav' }, { transcribe: { url: server.url, apiKey: 'sk-test', model: 'whisper-1' } });
    expect(document.sections[0]!.markdown).toMatch(/\n\n### Transcript\n\nHello from the fake transcriber\.$/);
    expect(document.info.notes).toBeUndefined();

    const request = server.requests[before]!;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/audio/transcriptions', authorization: 'Bearer sk-test' });
    expect(request.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(request.fields).toEqual({ model: 'whisper-1', response_format: 'json' });
    expect(request.file).toMatchObject({ name: 'speech.wav', type: 'audio/wav', size: bytes.length });
    expect(Buffer.from(request.file!.head.subarray(0, 4)).toString('latin1')).toBe('RIFF');
  });

  it('keeps the metadata and notes the reason when transcription fails', async () => {
    const denied = await convert({ bytes: wav(1, 8000), name: 'a.wav' }, { transcribe: { url: server.url, apiKey: 'wrong', model: 'whisper-1' } });
    expect(denied.info.notes).toEqual(['Transcription failed: HTTP 401: Incorrect API key provided.']);
    expect(denied.info.properties).toMatchObject({ codec: 'PCM', duration: '0:00:01' });
    expect(denied.sections[0]!.markdown).not.toContain('### Transcript');

    const broken = await startTranscribeServer({ failWith: 500 });
    await broken.close();
    const unreachable = await convert({ bytes: wav(1, 8000), name: 'a.wav' }, { transcribe: { url: broken.url, model: 'whisper-1' } });
    expect(unreachable.info.notes).toEqual(['Transcription failed: the transcription service could not be reached (ECONNREFUSED).']);
  });

  it('formats long durations as h:mm:ss', () => {
    expect(clock(3725.4)).toBe('1:02:05');
    expect(clock(59.6)).toBe('0:01:00');
  });

  it('names a corrupt audio file', async () => {
    const error = await convert({ bytes: Buffer.concat([Buffer.from('ID3'), Buffer.alloc(7, 0xff)]), name: 'broken.mp3' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FathomError);
    expect((error as FathomError).code).toBe('invalid_argument');
    expect((error as FathomError).message).toMatch(/^Corrupt audio file: /);
    expect((error as FathomError).hint).toBeTruthy();
  });
});
