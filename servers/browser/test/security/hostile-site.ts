import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordingServer {
  origin: string;
  /** `METHOD /path?query` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** An HTTP server on `host` that logs each request and answers with `handler` (default: a plain 200). */
export async function startRecordingServer(
  host: string,
  handler: (request: IncomingMessage, response: ServerResponse, url: URL) => void = (_request, response) => void response.end('ok'),
): Promise<RecordingServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(`${request.method} ${url.pathname}${url.search}`);
    handler(request, response, url);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    origin: `http://${host}:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const page = (title: string, body: string, head = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${head}</head><body>${body}</body></html>`;
const attr = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The pages a red team would serve: each attacks the browser server in one way. */
function hostilePage(url: URL): string | undefined {
  const param = (name: string) => url.searchParams.get(name) ?? '';
  switch (url.pathname) {
    case '/meta-refresh':
      return page('Moving on', '<p>Redirecting…</p>', `<meta http-equiv="refresh" content="0;url=${attr(param('to'))}">`);
    case '/spin-inline':
      return page('Spinning while loading', '<p>Before the loop.</p><script>while (true) {}</script><p>Never parsed.</p>');
    case '/spin-on-click':
      return page('Spin on click', `<main><h1>A trap</h1><button onclick="while (true) {}">Do not press</button></main>`);
    case '/catastrophic':
      return page('Letters', `<main><p>${'a'.repeat(5000)}!</p><p>The word harbour appears once.</p></main>`);
    case '/preflight':
      return page(
        'Cross-origin writer',
        `<main><p id="result">working</p></main><script>
          fetch(${JSON.stringify(param('target'))}, { method: 'DELETE', headers: { 'X-Custom': '1' }, credentials: 'include' })
            .then((response) => 'status ' + response.status, (error) => 'error ' + error.name)
            .then((outcome) => { document.getElementById('result').textContent = 'fetch done: ' + outcome; });
        </script>`,
      );
    case '/image':
      return page('With an image', `<main><p>Picture below.</p><img src="/pixel.png" alt="pixel"></main>`);
    case '/webrtc':
      return page(
        'Peer to peer',
        `<main><p id="result">working</p></main><script>
          (async () => {
            const port = ${Number(param('port'))};
            const pc = new RTCPeerConnection({ iceServers: [
              { urls: 'stun:127.0.0.1:' + port },
              { urls: 'turn:127.0.0.1:' + port + '?transport=udp', username: 'user', credential: 'secret' },
            ] });
            const candidates = [];
            const complete = new Promise((resolve) => {
              pc.onicecandidate = (event) => { if (event.candidate) candidates.push(event.candidate.candidate); else resolve(); };
              pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
            });
            pc.createDataChannel('leak');
            await pc.setLocalDescription(await pc.createOffer());
            await Promise.race([complete, new Promise((resolve) => setTimeout(resolve, 10000))]);
            document.getElementById('result').textContent = 'gathering done: ' + candidates.length + ' candidates';
          })().catch((error) => { document.getElementById('result').textContent = 'gathering done: error ' + error.name; });
        </script>`,
      );
    case '/many-downloads':
      return page(
        'Many files',
        `<main><p>Files arrive by themselves.</p></main><script>
          // Chromium lets a page click about ten download links without a user; frames have no such limit.
          let i = 0;
          const timer = setInterval(() => {
            if (i === ${Number(param('n'))}) return clearInterval(timer);
            const frame = document.createElement('iframe');
            frame.src = '/file?i=' + i++ + '&bytes=${Number(param('bytes'))}';
            document.body.append(frame);
          }, 20);
        </script>`,
      );
    case '/images': {
      const sources = url.searchParams.getAll('src');
      return page(
        'Images',
        `<p id="result">loading</p>${sources.map((src) => `<img src="${attr(src)}" alt="">`).join('')}<script>
          const images = [...document.images];
          let settled = 0;
          const settle = () => { if (++settled === images.length) document.getElementById('result').textContent = 'all ' + images.length + ' images settled'; };
          for (const img of images) img.complete ? settle() : (img.onload = img.onerror = settle);
        </script>`,
      );
    }
    case '/private-resources': {
      const origin = param('origin');
      return page(
        'Leaky',
        `<p id="result">working</p><script>
          let settled = 0;
          const settle = () => { if (++settled === 4) document.getElementById('result').textContent = 'all four attempts settled'; };
          const img = new Image(); img.onload = img.onerror = () => { img.onload = img.onerror = null; settle(); }; img.src = ${JSON.stringify(`${origin}/img.png`)};
          const frame = document.createElement('iframe'); frame.onload = settle; frame.src = ${JSON.stringify(`${origin}/frame`)}; document.body.append(frame);
          fetch(${JSON.stringify(`${origin}/fetch`)}).then(settle, settle);
          const socket = new WebSocket(${JSON.stringify(`${origin.replace(/^http/, 'ws')}/ws`)}); socket.onerror = socket.onopen = () => { socket.onerror = socket.onopen = null; settle(); };
        </script>`,
      );
    }
    default:
      return undefined;
  }
}

/** A site of hostile pages on 127.0.0.1, logging every request. */
export function startHostileSite(): Promise<RecordingServer> {
  return startRecordingServer('127.0.0.1', (_request, response, url) => {
    const html = hostilePage(url);
    if (html) return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    if (url.pathname === '/file') {
      const bytes = Number(url.searchParams.get('bytes') ?? '16');
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="file-${Number(url.searchParams.get('i') ?? '0')}.bin"`,
        'content-length': String(bytes),
      });
      return void response.end(Buffer.alloc(bytes, 0x61));
    }
    if (url.pathname === '/redirect') return void response.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
    if (url.pathname === '/pixel.png') return void response.writeHead(404).end();
    response.writeHead(404, { 'content-type': 'text/html' }).end(page('Not found', '<h1>404</h1>'));
  });
}
