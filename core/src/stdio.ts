import type { Readable, Writable } from 'node:stream';
import { parseJSONRPCMessage } from '@modelcontextprotocol/server';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { FathomServer } from './server.js';

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

/**
 * Newline-delimited JSON-RPC over a pair of streams. Unlike a bare line reader, a line that is not
 * JSON gets a Parse error answer and a JSON value that is not JSON-RPC gets an Invalid Request
 * answer, so a confused client learns what it sent wrong; the session carries on either way.
 */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private buffer: Buffer = Buffer.alloc(0);
  private discarding = false;
  private closed = false;

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
    private readonly maxLineBytes = 64 * 1024 * 1024,
  ) {}

  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let newline: number;
    while ((newline = this.buffer.indexOf(10)) !== -1) {
      const line = this.buffer.subarray(0, newline);
      this.buffer = this.buffer.subarray(newline + 1);
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      this.handleLine(line.toString('utf8'));
    }
    if (this.buffer.length > this.maxLineBytes) {
      this.buffer = Buffer.alloc(0);
      this.discarding = true;
      this.reply(null, PARSE_ERROR, `Message larger than ${this.maxLineBytes} bytes; it was discarded`);
    }
  };

  private readonly onEnd = () => void this.close();
  private readonly onStreamError = (error: Error) => this.onerror?.(error);

  private handleLine(raw: string) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      this.reply(null, PARSE_ERROR, `Parse error: ${(error as Error).message}`);
      return;
    }
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(value);
    } catch {
      const id = (value as { id?: unknown } | null)?.id;
      const validId = typeof id === 'string' || typeof id === 'number' ? id : null;
      this.reply(validId, INVALID_REQUEST, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }
    this.onmessage?.(message);
  }

  private reply(id: string | number | null, code: number, message: string) {
    void this.write(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }) + '\n');
  }

  private write(text: string): Promise<void> {
    if (this.closed || this.output.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.output.write(text)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('close', this.onEnd);
    this.input.on('error', this.onStreamError);
    this.output.on('error', this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(JSON.stringify(message) + '\n');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('close', this.onEnd);
    this.input.off('error', this.onStreamError);
    this.buffer = Buffer.alloc(0);
    this.onclose?.();
  }
}

export interface StdioConnection {
  /** Answers the calls in flight with an error that starts with `reason`, then closes the instance and the transport. */
  close(reason: string): Promise<void>;
}

/**
 * Serves one stdio connection in the era its client opens with (the SDK's `serveStdio`): an
 * `initialize` pins it to the 2025 era, a request with the per-request `_meta` envelope to
 * 2026-07-28. Either way one instance serves the whole connection. `first` is made before anything
 * arrives, so a bad configuration stops the server at start-up; `create` makes any later one (after
 * a `server/discover` probe the client gave up on). `onEnd` runs when the transport closes.
 */
export function serveStdioConnection(
  first: FathomServer,
  create: () => Promise<FathomServer>,
  transport: StdioTransport,
  onEnd: () => void,
): StdioConnection {
  let current: FathomServer | undefined;
  const handle = serveStdio(
    async () => {
      current = current === undefined ? first : await create();
      return current.server;
    },
    { transport },
  );
  const closed = transport.onclose;
  transport.onclose = () => {
    closed?.();
    onEnd();
  };
  return {
    async close(reason) {
      await (current ?? first).close(reason);
      await handle.close();
    },
  };
}
