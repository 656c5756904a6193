// How bench/files/run.mjs runs things: child processes and worker threads that never outlive the
// run, a temporary folder, the Fathom converters through @fathom/files' exports, and the timing loop.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const here = dirname(fileURLToPath(import.meta.url));

/** Every child process this run started, so that none outlives it. */
const children = new Set();
const workers = new Set();
let tempDir;

/** A temporary folder for this run's files, removed by cleanUp. */
export function makeWorkDir() {
  tempDir = mkdtempSync(join(tmpdir(), 'fathom-bench-files-'));
  return tempDir;
}

export function cleanUp() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const worker of workers) void worker.terminate();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
/** Cleans up when the process exits or is interrupted. */
export function cleanUpOnExit() {
  process.on('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
}

export function note(text) {
  process.stderr.write(`[files] ${text}\n`);
}

/** Runs a command to completion (killed at the time limit); its stdout, stderr tail and wall time. */
export function run(command, args, { timeoutMs = 120_000, maxBytes = 256 * 1024 * 1024, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    children.add(child);
    const chunks = [];
    let size = 0;
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      const ms = performance.now() - start;
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve({ stdout: Buffer.concat(chunks), stderr, ms });
      else reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? `code ${code}`}${size > maxBytes ? ' (output too large)' : ''}: ${stderr.trim()}`));
    });
  });
}

export async function hasCommand(command, args) {
  try {
    await run(command, args, { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** A module of @fathom/files (its build: npm run build), or undefined with a note when it does not load. */
export async function importConverter(specifier) {
  try {
    return await import(specifier);
  } catch (error) {
    note(`cannot load ${specifier}: ${error.message.split('\n')[0]}`);
    return undefined;
  }
}

export const markdownOf = (document) => document.sections.map((section) => section.markdown).join('\n\n');

/** A worker thread running one PDF extractor (bench/files/pdf-worker.mjs), asked one thing at a time. */
export async function pdfWorker(tool) {
  const worker = new Worker(join(here, 'pdf-worker.mjs'), { workerData: { tool } });
  workers.add(worker);
  const pending = new Map();
  let failure;
  let nextId = 0;
  const ready = new Promise((resolve, reject) => pending.set('ready', { resolve, reject }));
  worker.on('message', (message) => {
    const waiter = pending.get(message.ready ? 'ready' : message.id);
    pending.delete(message.ready ? 'ready' : message.id);
    if (message.error) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message);
  });
  const fail = (error) => {
    failure = error;
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the ${tool} worker exited (${code})`)));
  await ready;
  return {
    ask(bytes, first, last) {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, bytes, first, last });
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
      workers.delete(worker);
    },
  };
}

/** Contiguous page ranges, one per worker. */
export function splitPages(pages, parts) {
  const per = Math.ceil(pages / parts);
  const ranges = [];
  for (let i = 0; i < parts && i * per < pages; i++) ranges.push([i * per + 1, Math.min(pages, (i + 1) * per)]);
  return ranges;
}

/**
 * Times every tool on every input, `repetitions` times over: `order(repetition, index)` gives the
 * tools' order for one input, `call(tool, input)` runs one (a synchronous tool is timed without a
 * wait for the next tick), `failed(tool, index, repetition, error)` hears of a call that threw. The wall time of each call (NaN where it failed or gave nothing) and
 * each tool's output in the first repetition.
 */
export async function measure({ tools, inputs, repetitions, order, call, failed, repeated }) {
  const times = new Map(tools.map((tool) => [tool.key, inputs.map(() => [])]));
  const outputs = new Map(tools.map((tool) => [tool.key, []]));
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const [index, input] of inputs.entries()) {
      for (const tool of order(repetition, index)) {
        const start = performance.now();
        let output;
        try {
          output = call(tool, input);
          if (output instanceof Promise) output = await output;
        } catch (error) {
          output = undefined;
          failed(tool, index, repetition, error);
        }
        const ms = performance.now() - start;
        times.get(tool.key)[index].push(output === undefined ? NaN : ms);
        if (repetition === 0) outputs.get(tool.key)[index] = output;
      }
    }
    repeated?.(repetition);
  }
  return { times, outputs };
}
