import { describe, expect, it } from 'vitest';
import { BACKGROUND_END, BACKGROUND_START, StreamCapture } from '../src/backends/capture.js';

describe('StreamCapture', () => {
  it('ends a call at its marker even when the marker arrives split across chunks', async () => {
    const capture = new StreamCapture();
    const ended = capture.begin('\n__end__\n', 1000);
    for (const chunk of ['hello', '\n__e', 'nd', '__\n']) capture.push(Buffer.from(chunk));
    await ended;
    expect(capture.take()).toEqual({ text: 'hello', bytes: 5 });
  });

  it('keeps what follows the marker in the same call with that call, and sets apart what came between calls', async () => {
    const capture = new StreamCapture();
    const ended = capture.begin('\n__end__\n', 1000);
    capture.push(Buffer.from('real\n__end__\nforged next output\n'));
    await ended;
    capture.push(Buffer.from('still this call\n'));
    expect(capture.take()).toEqual({ text: 'realforged next output\nstill this call\n', bytes: 39 });
    capture.push(Buffer.from('from a background job\n'));
    const next = capture.begin('\n__end2__\n', 1000);
    capture.push(Buffer.from('own output\n__end2__\n'));
    await next;
    expect(capture.take().text).toBe(`${BACKGROUND_START}from a background job\n${BACKGROUND_END}own output`);
  });

  it('keeps output that arrived during a file operation for the next call, as background output', async () => {
    const capture = new StreamCapture();
    const op = capture.begin('\n__op__\n', 1000);
    capture.push(Buffer.from('printed meanwhile\n__op__\n'));
    await op;
    capture.carry();
    const next = capture.begin('\n__end__\n', 1000);
    capture.push(Buffer.from('mine\n__end__\n'));
    await next;
    expect(capture.take().text).toBe(`${BACKGROUND_START}printed meanwhile\n${BACKGROUND_END}mine`);
  });

  it('keeps the head, counts the rest and never splits a character', () => {
    expect(StreamCapture.of(['abc', 'déf'], 6)).toEqual({ text: 'abcdé', bytes: 7 });
    expect(StreamCapture.of(['abc', 'déf'], 5)).toEqual({ text: 'abcd', bytes: 7 });
    expect(StreamCapture.of(['x'.repeat(10)], 100)).toEqual({ text: 'x'.repeat(10), bytes: 10 });
  });
});
