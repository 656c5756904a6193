import { describe, expect, it } from 'vitest';
import { StreamCapture } from '../src/backends/capture.js';

describe('StreamCapture', () => {
  it('ends a call at its marker even when the marker arrives split across chunks', async () => {
    const capture = new StreamCapture();
    const ended = capture.begin('\n__end__\n', 1000);
    for (const chunk of ['hello', '\n__e', 'nd', '__\nlater']) capture.push(Buffer.from(chunk));
    await ended;
    expect(capture.take()).toEqual({ text: 'hello', bytes: 5 });
    const next = capture.begin('\n__end2__\n', 1000);
    capture.push(Buffer.from(' output\n__end2__\n'));
    await next;
    expect(capture.take()).toEqual({ text: 'later output', bytes: 12 });
  });

  it('keeps the head, counts the rest and never splits a character', () => {
    expect(StreamCapture.of(['abc', 'déf'], 6)).toEqual({ text: 'abcdé', bytes: 7 });
    expect(StreamCapture.of(['abc', 'déf'], 5)).toEqual({ text: 'abcd', bytes: 7 });
    expect(StreamCapture.of(['x'.repeat(10)], 100)).toEqual({ text: 'x'.repeat(10), bytes: 10 });
  });
});
