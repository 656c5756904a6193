import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BROWSER_MODES, TEST_TIMEOUT_MS, describeChromium, startBrowserIn } from './harness.js';
import type { Browser } from './harness.js';

for (const mode of BROWSER_MODES) describeChromium(`WebRTC sends nothing around the egress proxy (${mode} browser)`, () => {
  let browser: Browser;
  let socket: Socket;
  const received: string[] = [];

  beforeAll(async () => {
    browser = await startBrowserIn(mode);
    socket = createSocket('udp4');
    socket.on('message', (message, from) => received.push(`${message.length} bytes from ${from.address}:${from.port}`));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await browser?.close();
    socket?.close();
  });

  it('a page’s peer connection reaches no STUN or TURN server over UDP', async () => {
    const attacker = await browser.session('attacker');
    const { port } = socket.address() as AddressInfo;
    const opened = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/webrtc?port=${port}` });
    expect(opened.isError, opened.text).toBe(false);
    const done = await attacker.call('browser_wait_for', { text: 'gathering done' });
    expect(done.isError, done.text).toBe(false);
    expect(received).toEqual([]);
    await browser.expectWitnessWorks(await browser.session('witness'));
    expect(received).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
