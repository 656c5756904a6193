import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmountUnder } from '@fathom/python-sandbox';
import { describeChromium } from '../../servers/browser/test/chromium.js';
import { describeBwrap } from '../../servers/python-sandbox/test/helpers.js';
import { startBrowserSite } from '../fixtures/browser-site.js';
import type { BrowserSite } from '../fixtures/browser-site.js';
import { startFixtureSite } from '../fixtures/site.js';
import type { FixtureSite } from '../fixtures/site.js';
import { ROOT, healthy, serverMain, spawnNode, startHttpServer, waitFor } from '../helpers.js';
import { skipWithoutNginx, startNginx } from '../services.js';
import type { NginxService } from '../services.js';

// Two replicas of each server behind Debian's nginx, configured with the committed
// deploy/nginx/fathom.conf: its text, with the example addresses replaced by the replicas' ports.

const CONF = readFileSync(join(ROOT, 'deploy/nginx/fathom.conf'), 'utf8');
type Name = 'search' | 'files' | 'python-sandbox' | 'browser';
/** The example addresses of each server's two replicas in the committed file, and the replica names its map routes on. */
const REPLICAS: Record<Name, { addresses: [string, string]; names: [string, string] }> = {
  search: { addresses: ['10.0.0.11:8931', '10.0.0.12:8931'], names: ['search-1', 'search-2'] },
  files: { addresses: ['10.0.0.11:8933', '10.0.0.12:8933'], names: ['files-1', 'files-2'] },
  'python-sandbox': { addresses: ['10.0.0.21:8934', '10.0.0.22:8934'], names: ['sandbox-1', 'sandbox-2'] },
  browser: { addresses: ['10.0.0.31:8932', '10.0.0.32:8932'], names: ['browser-1', 'browser-2'] },
};
const CLIENTS = 8;
const CALLS = 20;
/** A call that takes longer than this hangs: the test fails instead of waiting for vitest's limit. */
const CALL_TIMEOUT = { timeout: 20_000 };

type Replica = Awaited<ReturnType<typeof startHttpServer>>;

/** The committed configuration with `name`'s replicas at `ports`, nginx listening on its test port. */
function httpBlock(name: Name, ports: [number, number]): string {
  let text = CONF;
  expect(text).toContain('listen 8080;');
  text = text.replace('listen 8080;', 'listen 127.0.0.1:PORT;');
  REPLICAS[name].addresses.forEach((address, i) => {
    expect(text).toContain(`server ${address}`);
    text = text.replaceAll(address, `127.0.0.1:${ports[i]}`);
  });
  return text;
}

async function startReplicas(name: 'search' | 'files', args: string[]): Promise<[Replica, Replica]> {
  const [first, second] = REPLICAS[name].names;
  return Promise.all([startHttpServer(name, [...args, '--replica-id', first]), startHttpServer(name, [...args, '--replica-id', second])]);
}

async function stop(replica: Replica): Promise<void> {
  if (replica.child.exitCode === null && replica.child.signalCode === null) replica.child.kill('SIGTERM');
  await replica.exited;
}

async function connect(url: string) {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'balancer-e2e', version: '1' });
  await client.connect(transport);
  return { client, transport };
}
type Connected = Awaited<ReturnType<typeof connect>>;

const text = (result: Awaited<ReturnType<Client['callTool']>>) => (result.content as { type: string; text?: string }[]).map((block) => block.text ?? '').join('\n');
const health = async (replica: Replica) => (await (await fetch(`http://127.0.0.1:${replica.port}/healthz`)).json()) as { replica: string; requests: number; sessions: number; stateless: boolean };
/** The replica a 2025-era session id names. */
const replicaOf = (connected: Connected) => connected.transport.sessionId?.split('.')[0];

const skipNginx = skipWithoutNginx();

describe.skipIf(skipNginx)('stateless servers behind nginx, round robin', () => {
  describe('search --stateless', () => {
    let site: FixtureSite;
    let replicas: [Replica, Replica];
    let nginx: NginxService;
    beforeAll(async () => {
      site = await startFixtureSite();
      replicas = await startReplicas('search', ['--stateless', '--egress-allow', '127.0.0.1', '--cache-mode', 'off']);
      nginx = await startNginx(httpBlock('search', [replicas[0].port, replicas[1].port]));
    });
    afterAll(async () => {
      await nginx?.stop();
      await Promise.all((replicas ?? []).map(stop));
      await site?.close();
    });

    it('hands out no session and spreads every client\'s requests over both replicas', async () => {
      const before = await Promise.all(replicas.map(health));
      expect(before.map((h) => [h.replica, h.stateless])).toEqual([['search-1', true], ['search-2', true]]);
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(`${nginx.url}/search/mcp`)));
      for (const connected of clients) expect(connected.transport.sessionId).toBeUndefined();
      await Promise.all(
        clients.map(async ({ client }, c) => {
          for (let i = 0; i < CALLS; i++) {
            const page = site.pages[(c * CALLS + i) % site.pages.length]!;
            const result = await client.callTool({ name: 'web_fetch', arguments: { url: `${site.url}${page}` } }, undefined, CALL_TIMEOUT);
            expect(result.isError).toBeFalsy();
            expect(text(result)).toContain(site.articles[Number(/(\d+)\.html$/.exec(page)![1]) - 1]!.title);
          }
        }),
      );
      const after = await Promise.all(replicas.map(health));
      const served = after.map((h, i) => h.requests - before[i]!.requests);
      // initialize, notifications/initialized and the calls: round robin halves them.
      const total = CLIENTS * (CALLS + 2);
      expect(served[0]! + served[1]!).toBe(total);
      for (const count of served) expect(count).toBeGreaterThan(total / 4);
      expect(after.map((h) => h.sessions)).toEqual([0, 0]);
      await Promise.all(clients.map(({ client }) => client.close()));
    });

    it('answers a request that carries an Mcp-Session-Id, and refuses the GET stream it has no use for', async () => {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'search-9.0f0f', 'mcp-protocol-version': '2025-06-18' };
      const listed = await fetch(`${nginx.url}/search/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }) });
      expect(listed.status).toBe(200);
      expect(await listed.text()).toContain('web_fetch');
      const stream = await fetch(`${nginx.url}/search/mcp`, { headers: { accept: 'text/event-stream' } });
      expect(stream.status).toBe(405);
      expect(await stream.text()).toContain('this server is stateless (--stateless)');
    });
  });

  describe('files --stateless', () => {
    let folder: string;
    let replicas: [Replica, Replica];
    let nginx: NginxService;
    beforeAll(async () => {
      folder = mkdtempSync(join(tmpdir(), 'fathom-balancer-files-'));
      for (let i = 0; i < 5; i++) writeFileSync(join(folder, `note-${i}.txt`), `note ${i}\n`);
      replicas = await startReplicas('files', ['--stateless', '--roots', folder]);
      nginx = await startNginx(httpBlock('files', [replicas[0].port, replicas[1].port]));
    });
    afterAll(async () => {
      await nginx?.stop();
      await Promise.all((replicas ?? []).map(stop));
      if (folder) rmSync(folder, { recursive: true, force: true });
    });

    it('spreads the calls of many clients over both replicas, each answered in full', async () => {
      const before = await Promise.all(replicas.map(health));
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(`${nginx.url}/files/mcp`)));
      await Promise.all(
        clients.map(async ({ client }) => {
          for (let i = 0; i < CALLS; i++) {
            const result = await client.callTool({ name: 'list_files', arguments: { path: folder } }, undefined, CALL_TIMEOUT);
            expect(result.isError).toBeFalsy();
            for (let n = 0; n < 5; n++) expect(text(result)).toContain(`note-${n}.txt`);
          }
        }),
      );
      const served = (await Promise.all(replicas.map(health))).map((h, i) => h.requests - before[i]!.requests);
      expect(served[0]! + served[1]!).toBe(CLIENTS * (CALLS + 2));
      // Without a session there are no client roots to ask for: the operator's --roots hold, on every replica.
      for (let i = 0; i < 2; i++) {
        const outside = await clients[0]!.client.callTool({ name: 'list_files', arguments: { path: '/etc' } }, undefined, CALL_TIMEOUT);
        expect(outside.isError).toBe(true);
        expect(text(outside)).toContain('/etc is outside the folders this server may read');
      }
      for (const count of served) expect(count).toBeGreaterThan((CLIENTS * (CALLS + 2)) / 4);
      await Promise.all(clients.map(({ client }) => client.close()));
    });
  });

  it('python-sandbox and browser refuse --stateless at start, pointing to the affinity set-up', async () => {
    for (const name of ['python-sandbox', 'browser']) {
      const started = spawnNode([serverMain(name), '--transport', 'http', '--port', '0', '--stateless']);
      expect((await started.exited).code).toBe(2);
      expect(started.stderr()).toContain(`fathom ${name}: --stateless is not for this server: each client's session holds its `);
      expect(started.stderr()).toContain('--replica-id');
      expect(started.stderr()).toContain('deploy/nginx/fathom.conf');
    }
  });
});

/** Closes a client and its session (HTTP DELETE), so that its replica releases what the session held. */
async function close({ client, transport }: Connected): Promise<void> {
  await transport.terminateSession().catch(() => undefined);
  await client.close();
}

/**
 * One stateful server behind nginx: many clients, each session's calls answered by the replica
 * that holds its state; then the first replica stops under load (SIGTERM), and, started again,
 * is killed outright under load (SIGKILL).
 */
interface Scenario {
  /** Makes the client's state (a sandbox, a page): the id it lives under. */
  open(connected: Connected, client: number): Promise<string>;
  /** One call (the call-th since open) that reads and changes that state; throws when it is not there. */
  step(connected: Connected, client: number, call: number, id: string, timeout: number): Promise<void>;
  /** A call that names the state `id`, answered as it is. */
  reach(connected: Connected, id: string): ReturnType<Client['callTool']>;
}

interface Outcome {
  /** Calls that succeeded after the replica had stopped. */
  after: number;
  failures: string[];
}

function statefulSuite(name: 'python-sandbox' | 'browser', scenario: Scenario, args: (replica: number) => string[]) {
  const [first, second] = REPLICAS[name].names;
  let replicas: [Replica, Replica];
  let nginx: NginxService;
  const url = () => `${nginx.url}/${name}/mcp`;
  beforeAll(async () => {
    replicas = await Promise.all([startHttpServer(name, [...args(0), '--replica-id', first]), startHttpServer(name, [...args(1), '--replica-id', second])]);
    nginx = await startNginx(httpBlock(name, [replicas[0].port, replicas[1].port]));
  });
  afterAll(async () => {
    await nginx?.stop();
    await Promise.all((replicas ?? []).map(stop));
  });

  /** Clients whose sessions are on both replicas. */
  async function clientsOnBoth(): Promise<{ clients: Connected[]; named: (string | undefined)[] }> {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(url())));
    const named = clients.map(replicaOf);
    expect(new Set(named)).toEqual(new Set([first, second]));
    return { clients, named };
  }

  it(`keeps every session on its replica: ${CLIENTS} clients, ${CALLS} calls each, spread over both`, async () => {
    const { clients, named } = await clientsOnBoth();
    const ids = await Promise.all(
      clients.map(async (connected, c) => {
        const id = await scenario.open(connected, c);
        // The id of the state names the replica of the session that made it.
        expect(id.startsWith(`${named[c]}.`)).toBe(true);
        for (let i = 1; i <= CALLS; i++) await scenario.step(connected, c, i, id, CALL_TIMEOUT.timeout);
        return id;
      }),
    );
    const sessions = (await Promise.all(replicas.map(health))).map((h) => h.sessions);
    expect(sessions).toEqual([named.filter((r) => r === first).length, named.filter((r) => r === second).length]);
    // An id the other replica handed out, reaching this one: the tool error says so, with its code.
    const there = clients[named.indexOf(second)]!;
    const foreignId = ids[named.indexOf(first)]!;
    const refused = await scenario.reach(there, foreignId);
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['fathom/error']).toEqual({ code: 'wrong_replica' });
    expect(text(refused)).toContain(`${foreignId} was opened on replica ${first}; this is replica ${second}: the balancer sent the request elsewhere`);
    await Promise.all(clients.map(close));
  }, 120_000);

  /** Every client calls in a loop; once each has made a few calls, `end` stops the first replica. */
  async function underLoad(end: (replica: Replica) => Promise<void>, timeout: number, inFlight: RegExp) {
    const { clients, named } = await clientsOnBoth();
    const ids = await Promise.all(clients.map((connected, c) => scenario.open(connected, c)));
    let stopped = false;
    let calls = 0;
    const loops = clients.map(async (connected, c): Promise<Outcome> => {
      const outcome: Outcome = { after: 0, failures: [] };
      for (let i = 1; i <= 5000 && outcome.failures.length < 3; i++) {
        const wasStopped = stopped;
        try {
          await scenario.step(connected, c, i, ids[c]!, timeout);
          calls++;
          if (wasStopped && ++outcome.after >= 5) break;
        } catch (error) {
          outcome.failures.push((error as Error).message);
          // The session's state is gone with its replica: every later call says the same.
          if (/state is lost/.test((error as Error).message)) break;
        }
      }
      return outcome;
    });
    while (calls < CLIENTS * 3) await new Promise((resolve) => setTimeout(resolve, 20));
    await end(replicas[0]);
    stopped = true;
    const outcomes = await Promise.all(loops);
    const lost = new RegExp(
      `Session ${first}\\.[0-9a-f-]{36} was opened on replica ${first}; this is replica ${second}: the balancer sent the request elsewhere ` +
        '\\(the replica may have stopped, and what the session held with it: the state is lost\\); initialize a new session',
    );
    outcomes.forEach((outcome, c) => {
      if (named[c] === second) {
        expect(outcome).toEqual({ after: 5, failures: [] });
        return;
      }
      // A call in flight when the replica stopped may fail otherwise (`inFlight`); every later one says the state is lost.
      expect(outcome.failures.length).toBeGreaterThan(0);
      expect(outcome.failures.at(-1)).toMatch(lost);
      for (const failure of outcome.failures.slice(0, -1)) expect(failure).toMatch(new RegExp(`${inFlight.source}|state is lost`));
    });
    await Promise.all(clients.filter((_, c) => named[c] === second).map(close));
    await Promise.all(clients.filter((_, c) => named[c] === first).map(({ client }) => client.close()));

    const fresh = await Promise.all(Array.from({ length: 4 }, () => connect(url())));
    expect(fresh.map(replicaOf)).toEqual([second, second, second, second]);
    await Promise.all(
      fresh.map(async (connected, c) => {
        const id = await scenario.open(connected, CLIENTS + c);
        expect(id.startsWith(`${second}.`)).toBe(true);
        for (let i = 1; i <= 3; i++) await scenario.step(connected, CLIENTS + c, i, id, CALL_TIMEOUT.timeout);
      }),
    );
    await Promise.all(fresh.map(close));
  }

  it('stopped under load (SIGTERM): its sessions get a clear "state lost" error, the others go on, new sessions go to the live replica', async () => {
    // A call in flight is answered that the server is shutting down and the call was not completed.
    await underLoad(stop, CALL_TIMEOUT.timeout, /The server is shutting down \(SIGTERM\); the call was not completed/);
  }, 120_000);

  it('killed under load (SIGKILL), after it was started again: the same, once the call in flight has timed out', async () => {
    const port = replicas[0].port;
    const again = spawnNode([serverMain(name), '--transport', 'http', '--port', String(port), ...args(0), '--replica-id', first]);
    replicas[0] = { ...again, port, url: `http://127.0.0.1:${port}/mcp` };
    await waitFor(() => healthy(port), 15_000, `${first} started again`);
    // nginx sends new sessions to it again once the time it marked it failed for has passed.
    await waitFor(async () => {
      const probe = await connect(url());
      const on = replicaOf(probe);
      await close(probe);
      return on === first;
    }, 20_000, `nginx sending new sessions to ${first} again`);
    // The SDK's client does not fail a request whose answer stream broke: the call in flight ends with its own timeout.
    await underLoad(
      async (replica) => {
        replica.child.kill('SIGKILL');
        await replica.exited;
      },
      5000,
      /Request timed out/,
    );
  }, 120_000);
}

describe.skipIf(skipNginx)('python-sandbox replicas behind nginx, affinity on the session id', () => {
  const stateDirs: string[] = [];
  afterAll(async () => {
    for (const dir of stateDirs) {
      await unmountUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  describeBwrap('with the bwrap backend', () => {
    statefulSuite(
      'python-sandbox',
      {
        async open({ client }) {
          const created = await client.callTool({ name: 'python_create_session', arguments: {} }, undefined, CALL_TIMEOUT);
          if (created.isError) throw new Error(text(created));
          const id = (created.structuredContent as { session_id: string }).session_id;
          const set = await client.callTool({ name: 'python_run', arguments: { session_id: id, code: 'total = 0' } }, undefined, CALL_TIMEOUT);
          if (set.isError) throw new Error(text(set));
          return id;
        },
        async step({ client }, _c, call, id, timeout) {
          const run = await client.callTool({ name: 'python_run', arguments: { session_id: id, code: `total += ${call}\ntotal` } }, undefined, { timeout });
          if (run.isError) throw new Error(text(run));
          // The sum so far: every call ran in the same sandbox, on the same replica.
          expect((run.structuredContent as { value: string }).value).toBe(String((call * (call + 1)) / 2));
        },
        reach: ({ client }, id) => client.callTool({ name: 'python_run', arguments: { session_id: id, code: '1' } }, undefined, CALL_TIMEOUT),
      },
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'fathom-balancer-sandbox-'));
        chmodSync(dir, 0o711);
        stateDirs.push(dir);
        return ['--state-dir', dir, '--warm-pool', '1', '--cache-mode', 'off'];
      },
    );
  });
});

describe.skipIf(skipNginx)('browser replicas behind nginx, affinity on the session id', () => {
  let site: BrowserSite;
  beforeAll(async () => {
    site = await startBrowserSite();
  });
  afterAll(async () => {
    await site?.close();
  });
  const pages = new Map<number, string>();
  describeChromium('with Chromium', () => {
    statefulSuite(
      'browser',
      {
        async open({ client }, c) {
          const url = `${site.url}/static.html?client=${c}`;
          const opened = await client.callTool({ name: 'browser_navigate', arguments: { url } }, undefined, CALL_TIMEOUT);
          if (opened.isError) throw new Error(text(opened));
          pages.set(c, url);
          return (opened.structuredContent as { context_id: string }).context_id;
        },
        async step({ client }, c, call, id, timeout) {
          if (call % 5 === 0) {
            const url = `${site.url}/static.html?client=${c}&call=${call}`;
            const moved = await client.callTool({ name: 'browser_navigate', arguments: { url, context_id: id } }, undefined, { timeout });
            if (moved.isError) throw new Error(text(moved));
            pages.set(c, url);
          }
          const tabs = await client.callTool({ name: 'browser_tabs', arguments: { action: 'list', context_id: id } }, undefined, { timeout });
          if (tabs.isError) throw new Error(text(tabs));
          // The page this client's context last went to: the same context, on the same replica.
          expect((tabs.structuredContent as { tabs: { url: string }[] }).tabs.map((tab) => tab.url)).toEqual([pages.get(c)]);
        },
        reach: ({ client }, id) => client.callTool({ name: 'browser_tabs', arguments: { action: 'list', context_id: id } }, undefined, CALL_TIMEOUT),
      },
      () => ['--egress-allow', '127.0.0.1'],
    );
  });
});
