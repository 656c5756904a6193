import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BooleanOption, FathomError, booleanOptionTerm, createLogger, errorMessage, isFathomError, normalizeBooleanArgs } from '@fathom/core';
import { Command, InvalidArgumentError } from 'commander';
import { agentConfig, resolveModel, runTask, taskHarness } from './agent.js';
import { modelSettingSources, serverEnvironment } from './config.js';
import { agentConfigNames, describeHarness, renderHarness } from './harness.js';
import type { Protocol } from './agent.js';
import type { Logger } from '@fathom/core';
import { redisUrl, runQueuedEval } from './eval/queue.js';
import type { RunSettings } from './eval/queue.js';
import { runQueueWorker } from './eval/worker.js';
import type { Runner } from './eval/worker.js';
import type { EvalProgress } from './eval.js';
import { SUMMARY_FILE, progressLine, progressRecord, readTasks, runEval } from './eval.js';
import { CHART_FILE } from './chart.js';
import type { LoopEvent } from './loop.js';
import { Connections } from './mcp.js';
import { localDate, renderSystemPrompt } from './protocol/index.js';
import { SharedServers } from './servers.js';
import { readTrace, renderTrace, verboseLines } from './trace.js';
import type { ResponseEvent } from './trace.js';

const say = (text: string) => process.stderr.write(text + '\n');

function count(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < -1) throw new InvalidArgumentError('a whole number');
  return parsed;
}

function protocol(value: string): Protocol {
  if (value !== 'mirothinker' && value !== 'openai-tools') throw new InvalidArgumentError('mirothinker or openai-tools');
  return value;
}

function extras(value: string): ('browser' | 'files')[] {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of names) if (name !== 'browser' && name !== 'files') throw new InvalidArgumentError('a list of browser, files');
  return names as ('browser' | 'files')[];
}

/** One line of the live view, e.g. `turn 3  tool-python/run_python_code code_block="print(1)"  0.4 s`. */
export function describeEvent(event: LoopEvent, started: number): string | undefined {
  const at = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  switch (event.type) {
    case 'turn':
      return `turn ${event.turn}  ${event.tokens.toLocaleString('en-US')} tokens so far  ${at}`;
    case 'tool': {
      const args = Object.entries(event.call.arguments)
        .map(([key, value]) => `${key}=${JSON.stringify(value).slice(0, 60)}`)
        .join(' ');
      const status = event.outcome.isError ? 'error' : `${event.outcome.text.length.toLocaleString('en-US')} chars`;
      return `  ${event.call.server}/${event.call.tool} ${args}  → ${status} in ${(event.outcome.ms / 1000).toFixed(1)} s`;
    }
    case 'rollback':
      return `  rolled back: ${event.reason}`;
    case 'model_retry':
      return `  model call failed, asking again: ${event.reason}`;
    case 'attempt':
      return `attempt ${event.attempt} of ${event.of}  ${at}`;
    case 'attempt_end':
      return `attempt ${event.attempt} of ${event.of} ended: ${event.ended}${event.answer !== undefined ? ` → ${event.answer}` : event.failureSummary ? '; its failure summary goes to the next attempt' : ''}`;
    case 'summary':
      return `summary (${event.reason})  ${at}`;
    case 'answer':
      return undefined;
  }
}

interface AgentCommandOptions {
  file?: string;
  config?: string;
  extras?: ('browser' | 'files')[];
  protocol: Protocol;
  agentConfig?: string;
  model?: string;
  baseUrl?: string;
  maxTurns?: number;
  keep?: number;
  date?: string;
  trace?: string;
  printSystemPrompt?: boolean;
  printAgentConfig?: boolean;
  verbose?: boolean;
}

interface WorkerCommandOptions {
  queue: string;
  eval?: string;
  concurrency: number;
  name?: string;
  config?: string;
  model?: string;
  baseUrl?: string;
  lockSeconds: number;
}

interface RunnerOptions {
  fathomBin: string;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  concurrency: number;
  configPath?: string;
  processPerTask?: boolean;
}

/**
 * The servers and task runner for runs under `settings`: Fathom's servers started once over HTTP
 * for every run (each run opens its own sessions, so its sandboxes and browser contexts close when
 * it ends), unless each run starts its own.
 */
async function startRunner(settings: RunSettings, options: RunnerOptions): Promise<Runner> {
  const { fathomBin, logger, env, configPath } = options;
  const base = agentConfig({ fathomBin, env, ...(configPath ? { configPath } : {}) });
  const harness = taskHarness(settings, base, env.FATHOM_MODEL || base.model?.model || '');
  const config = configPath ? base : agentConfig({ fathomBin, env, release: harness.release });
  const serverEvent = (event: { type: string; server: string; detail: string }) => say(`  ${event.server}: ${event.type} (${event.detail})`);
  const shared = options.processPerTask
    ? undefined
    : await SharedServers.start(config.mcpServers, { fathomBin, logger, env: serverEnvironment(env), concurrency: options.concurrency, onEvent: serverEvent });
  for (const server of shared?.processes() ?? []) say(`${server.names.join(', ')}: one ${server.server} process for every task (pid ${server.pid ?? '?'}, port ${server.port ?? '?'})`);
  return {
    runTask: async (task, _run, context) => {
      const result = await runTask({
        task: task.question,
        ...(task.file ? { file: task.file } : {}),
        ...(configPath ? { configPath } : {}),
        ...(shared ? { servers: shared.mcpServers } : {}),
        protocol: settings.protocol,
        ...(settings.agentConfig ? { agentConfig: settings.agentConfig } : {}),
        ...(settings.maxTurns !== undefined ? { maxTurns: settings.maxTurns } : {}),
        ...(settings.keep !== undefined ? { keep: settings.keep } : {}),
        tracePath: context.tracePath,
        fathomBin,
        logger,
        env,
        signal: context.signal,
      });
      return {
        ...(result.answer !== undefined ? { answer: result.answer } : {}),
        turns: result.turns,
        toolCalls: result.toolCalls,
        tokens: result.tokens,
        ms: result.ms,
        stop: result.stop,
        attempts: result.attempts.length,
        ...(result.error ? { error: result.error } : {}),
      };
    },
    close: async () => {
      await shared?.close();
    },
  };
}

interface EvalCommandOptions {
  out: string;
  concurrency: number;
  runs: number;
  earlyStop?: boolean;
  files?: string;
  timeLimit: number;
  config?: string;
  protocol: Protocol;
  agentConfig?: string;
  model?: string;
  baseUrl?: string;
  maxTurns?: number;
  keep?: number;
  processPerTask?: boolean;
  queue?: string;
  name?: string;
  retries: number;
  retryDelay: number;
}

function agentConfigName(value: string): string {
  if (!agentConfigNames().includes(value)) throw new InvalidArgumentError(`one of ${agentConfigNames().join(', ')}`);
  return value;
}

/** The environment with --model and --base-url over FATHOM_MODEL and FATHOM_MODEL_BASE_URL. */
function modelEnv(options: { model?: string; baseUrl?: string }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(options.model ? { FATHOM_MODEL: options.model } : {}),
    ...(options.baseUrl ? { FATHOM_MODEL_BASE_URL: options.baseUrl } : {}),
  };
}

export function buildAgentProgram(fathomBin: string): Command {
  const program = new Command('fathom').exitOverride().showHelpAfterError();
  program.configureHelp({ optionTerm: (option) => booleanOptionTerm(option) ?? option.flags });
  const logger = createLogger('fathom.agent', { level: (process.env.FATHOM_LOG_LEVEL as 'warn' | undefined) ?? 'warn' });

  program
    .command('agent')
    .description('run the MiroThinker model (FATHOM_MODEL_BASE_URL, FATHOM_MODEL) on a task against MCP servers')
    .argument('[task]', 'the task, in quotes')
    .option('--file <path>', 'a file attached to the task')
    .option('--config <path>', 'agent config (mcpServers shape); default: Fathom servers in the mirothinker profile')
    .option('--extras <names>', 'also start Fathom servers: browser,files', extras)
    .option('--protocol <protocol>', 'mirothinker or openai-tools', protocol, 'mirothinker' as Protocol)
    .option('--agent-config <name>', `MiroThinker agent config (default: from the model name): ${agentConfigNames().join(', ')}`, agentConfigName)
    .option('--model <id>', 'the model id the endpoint serves (over FATHOM_MODEL)')
    .option('--base-url <url>', 'the OpenAI-compatible endpoint, ending in /v1 (over FATHOM_MODEL_BASE_URL)')
    .option('--max-turns <n>', "turn limit per attempt (default: the agent config's)", count)
    .option('--keep <k>', "tool results kept in full, -1 for all (default: the agent config's)", count)
    .option('--date <YYYY-MM-DD>', 'date in the system prompt (default: today)')
    .option('--trace <path>', 'trace file (default: ./fathom-traces/<time>.jsonl)')
    .addOption(new BooleanOption('--verbose', 'show the thinking and the head of each tool result in the live view'))
    .addOption(new BooleanOption('--verbose', '').negation())
    .addOption(new BooleanOption('--print-system-prompt', 'print the system prompt for the configured servers and exit'))
    .addOption(new BooleanOption('--print-system-prompt', '').negation())
    .addOption(new BooleanOption('--print-agent-config', 'print the settings in force, and where each comes from, and exit'))
    .addOption(new BooleanOption('--print-agent-config', '').negation())
    .action(async (task: string | undefined, options: AgentCommandOptions) => {
      const env = modelEnv(options);
      if (options.printAgentConfig) {
        const config = agentConfig({ fathomBin, env, ...(options.config ? { configPath: options.config } : {}), ...(options.extras ? { extras: options.extras } : {}) });
        const harness = taskHarness(options, config, env.FATHOM_MODEL || config.model?.model || '');
        process.stdout.write(renderHarness(harness, modelSettingSources(config, env, options.config ?? 'the agent config')) + '\n');
        return;
      }
      if (options.printSystemPrompt) {
        const base = agentConfig({ fathomBin, env, ...(options.config ? { configPath: options.config } : {}), ...(options.extras ? { extras: options.extras } : {}) });
        const harness = taskHarness(options, base, env.FATHOM_MODEL || base.model?.model || '');
        const config = options.config ? base : agentConfig({ fathomBin, env, ...(options.extras ? { extras: options.extras } : {}), release: harness.release });
        const connections = await Connections.open(config.mcpServers, { logger, env: serverEnvironment(process.env) });
        try {
          process.stdout.write(renderSystemPrompt(connections.servers(), { date: options.date ?? localDate(), hiddenTools: harness.hiddenTools }) + '\n');
        } finally {
          await connections.close();
        }
        return;
      }
      if (!task) throw new FathomError('invalid_argument', 'No task given', { hint: 'Give the task in quotes: fathom agent "What is ...?"' });
      // One look at the endpoint first: a wrong URL fails in seconds, and a lone served model is taken.
      const checked = await resolveModel(agentConfig({ fathomBin, env, ...(options.config ? { configPath: options.config } : {}) }), env);
      if (checked.note) say(checked.note);
      const tracePath = resolve(options.trace ?? join('fathom-traces', `${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`));
      mkdirSync(dirname(tracePath), { recursive: true });
      const controller = new AbortController();
      process.once('SIGINT', () => {
        say('stopping: the answer so far is written to the trace');
        controller.abort();
      });
      const started = Date.now();
      const result = await runTask({
        task,
        ...(options.file ? { file: options.file } : {}),
        ...(options.config ? { configPath: options.config } : {}),
        ...(options.extras ? { extras: options.extras } : {}),
        protocol: options.protocol,
        ...(options.agentConfig ? { agentConfig: options.agentConfig } : {}),
        ...(options.maxTurns !== undefined ? { maxTurns: options.maxTurns } : {}),
        ...(options.keep !== undefined ? { keep: options.keep } : {}),
        ...(options.date ? { date: options.date } : {}),
        tracePath,
        fathomBin,
        logger,
        env: checked.env,
        signal: controller.signal,
        onHarness: (harness) => say(describeHarness(harness)),
        onEvent: (event) => {
          const line = describeEvent(event, started);
          if (line) say(line);
          if (options.verbose) for (const detail of verboseLines(event)) say(detail);
        },
        ...(options.verbose ? { onResponse: (event: ResponseEvent) => verboseLines(event).forEach(say) } : {}),
        onServerEvent: (event) => say(`  ${event.server}: ${event.type} (${event.detail})`),
      });
      say(`${result.turns} turns, ${result.toolCalls} tool calls, ${result.tokens.toLocaleString('en-US')} tokens, ${(result.ms / 1000).toFixed(1)} s; ended: ${result.stop}${result.error ? ` (${result.error})` : ''}`);
      say(`trace: ${tracePath}`);
      if (result.answer !== undefined) process.stdout.write(result.answer + '\n');
      else {
        say('no final answer');
        process.exitCode = 1;
      }
    });

  program
    .command('trace')
    .description('render a trace file as a readable timeline')
    .argument('<file>', 'a trace written by fathom agent or fathom eval')
    .addOption(new BooleanOption('--full', 'whole arguments, results and thinking, over as many lines as they take'))
    .addOption(new BooleanOption('--full', '').negation())
    .action((file: string, options: { full?: boolean }) => {
      process.stdout.write(renderTrace(readTrace(file), { color: Boolean(process.stdout.isTTY), width: process.stdout.columns ?? 100, ...(options.full ? { full: true } : {}) }) + '\n');
    });

  program
    .command('eval')
    .description('run a benchmark file (JSONL: task_id, question, file or file_name?, answer?, level?), resumable, and score it')
    .argument('<tasks>', 'tasks file')
    .option('--out <dir>', 'results folder (resumes what is already there)', 'fathom-eval')
    .option('--concurrency <n>', 'tasks at once (in this process; with --queue each worker sets its own)', count, 2)
    .option('--runs <k>', 'runs per task (pass@k)', count, 1)
    .addOption(new BooleanOption('--early-stop', "stop a task's further runs once one is correct (judged, else exact match), as MiroThinker's pass@k does"))
    .addOption(new BooleanOption('--early-stop', '').negation())
    .option('--files <dir>', "folder of the tasks' attached files (default: the tasks file's folder)")
    .option('--time-limit <minutes>', 'per task', Number, 30)
    .option('--config <path>', 'agent config (mcpServers shape)')
    .option('--protocol <protocol>', 'mirothinker or openai-tools', protocol, 'mirothinker' as Protocol)
    .option('--agent-config <name>', `MiroThinker agent config (default: from the model name): ${agentConfigNames().join(', ')}`, agentConfigName)
    .option('--model <id>', 'the model id the endpoint serves (over FATHOM_MODEL; default: the only one it serves)')
    .option('--base-url <url>', 'the OpenAI-compatible endpoint, ending in /v1 (over FATHOM_MODEL_BASE_URL)')
    .option('--max-turns <n>', "turn limit per attempt (default: the agent config's)", count)
    .option('--keep <k>', "tool results kept in full, -1 for all (default: the agent config's)", count)
    .addOption(new BooleanOption('--process-per-task', "start each task's own server processes instead of sharing one set over HTTP"))
    .addOption(new BooleanOption('--process-per-task', '').negation())
    .option('--queue <redis-url>', 'put the runs on a BullMQ queue in Redis for `fathom worker` processes (redis://HOST:PORT/DB) and follow them')
    .option('--name <name>', "the eval's name on the queue (default: the --out folder's name)")
    .option('--retries <n>', 'with --queue: further attempts of a run that failed for the infrastructure (model endpoint, servers, a lost worker)', count, 2)
    .option('--retry-delay <seconds>', 'with --queue: wait before the first retry of a run, doubling for each further one', Number, 5)
    .action(async (file: string, options: EvalCommandOptions) => {
      if (options.concurrency < 1) throw new FathomError('invalid_argument', `--concurrency must be at least 1 (got ${options.concurrency})`);
      if (options.runs < 1) throw new FathomError('invalid_argument', `--runs must be at least 1 (got ${options.runs})`);
      if (options.queue) redisUrl(options.queue);
      const tasks = readTasks(file, options.files ? { filesDir: options.files } : {});
      const base = agentConfig({ fathomBin, env: modelEnv(options), ...(options.config ? { configPath: options.config } : {}) });
      const model = await resolveModel(base, modelEnv(options));
      if (model.note) say(model.note);
      const env = model.env;
      say(describeHarness(taskHarness(options, base, model.model)));
      const controller = new AbortController();
      process.once('SIGINT', () => {
        say(options.queue ? '\nstopping: the runs on the queue go on on the workers; run the same command to follow them again' : '\nstopping after the running tasks; finished results are kept (run again to resume)');
        controller.abort();
      });
      const judge = process.env.FATHOM_JUDGE_BASE_URL && process.env.FATHOM_JUDGE_MODEL
        ? { baseUrl: process.env.FATHOM_JUDGE_BASE_URL, model: process.env.FATHOM_JUDGE_MODEL, ...(process.env.FATHOM_JUDGE_API_KEY ? { apiKey: process.env.FATHOM_JUDGE_API_KEY } : {}) }
        : undefined;
      // On a terminal the progress bar is redrawn in place; in a log or a pipe each finished run is a line.
      const terminal = Boolean(process.stderr.isTTY);
      const onProgress = (progress: EvalProgress) => {
        if (terminal) process.stderr.write(`\r${progressLine(progress)}`);
        else {
          const line = progressRecord(progress);
          if (line) say(line);
        }
      };
      const outDir = resolve(options.out);
      const book = { tasks, runs: options.runs, outDir, ...(options.earlyStop ? { earlyStop: true } : {}), ...(judge ? { judge } : {}) };
      const settings: RunSettings = {
        protocol: options.protocol,
        ...(options.agentConfig ? { agentConfig: options.agentConfig } : {}),
        ...(options.maxTurns !== undefined ? { maxTurns: options.maxTurns } : {}),
        ...(options.keep !== undefined ? { keep: options.keep } : {}),
        model: model.model,
        ...(env.FATHOM_MODEL_BASE_URL ? { baseUrl: env.FATHOM_MODEL_BASE_URL } : {}),
        timeLimitMs: Number.isFinite(options.timeLimit) ? options.timeLimit * 60_000 : null,
      };
      let summary;
      if (options.queue) {
        const name = options.name ?? basename(outDir);
        say(`eval ${name}: runs on the queue ${options.queue}; start workers with: fathom worker --queue ${options.queue}`);
        summary = await runQueuedEval({ ...book, queueUrl: options.queue, name, settings, retries: options.retries, retryDelayMs: options.retryDelay * 1000, signal: controller.signal, onProgress });
      } else {
        const runner = await startRunner(settings, { fathomBin, logger, env, concurrency: options.concurrency, ...(options.config ? { configPath: options.config } : {}), ...(options.processPerTask ? { processPerTask: true } : {}) });
        try {
          summary = await runEval({ ...book, concurrency: options.concurrency, timeLimitMs: options.timeLimit * 60_000, signal: controller.signal, onProgress, runTask: runner.runTask });
        } finally {
          await runner.close();
        }
      }
      if (terminal) say('');
      process.stdout.write(`${summary.markdown}\n`);
      say(`summary: ${join(outDir, SUMMARY_FILE)}; chart: ${join(outDir, CHART_FILE)}`);
      if (summary.errors) {
        say(`${summary.errors} run${summary.errors > 1 ? 's' : ''} ended in error and ${summary.errors > 1 ? 'are' : 'is'} not scored: run the same command again to run ${summary.errors > 1 ? 'them' : 'it'}`);
        process.exitCode = 1;
      }
    });

  program
    .command('worker')
    .description('take runs of `fathom eval --queue` evals from the queue and run them, on this machine\'s own servers or the ones its --config names')
    .requiredOption('--queue <redis-url>', 'the Redis the evals are on (redis://HOST:PORT/DB)')
    .option('--eval <name>', 'serve this eval only (default: every eval on the queue, as they come)')
    .option('--concurrency <n>', 'runs at once', count, 2)
    .option('--name <name>', 'this worker in the live view (default: host:pid)')
    .option('--config <path>', 'agent config (mcpServers shape): the servers runs use (default: Fathom servers started by this worker)')
    .option('--model <id>', "over the eval's model id")
    .option('--base-url <url>', "over the eval's endpoint")
    .option('--lock-seconds <s>', "how long a run stays this worker's without a renewal: after a crash its runs go to other workers this long after", Number, 30)
    .action(async (options: WorkerCommandOptions) => {
      if (options.concurrency < 1) throw new FathomError('invalid_argument', `--concurrency must be at least 1 (got ${options.concurrency})`);
      if (!(options.lockSeconds > 0)) throw new FathomError('invalid_argument', '--lock-seconds must be positive');
      const stopping = new AbortController();
      const cancelling = new AbortController();
      process.on('SIGINT', () => {
        if (stopping.signal.aborted) {
          say('stopping now: the running runs go back on the queue');
          cancelling.abort();
        } else {
          say('stopping after the running runs (Ctrl-C again to stop now)');
          stopping.abort();
        }
      });
      process.once('SIGTERM', () => {
        stopping.abort();
        cancelling.abort();
      });
      await runQueueWorker({
        queueUrl: redisUrl(options.queue),
        concurrency: options.concurrency,
        ...(options.name ? { name: options.name } : {}),
        ...(options.eval ? { evalName: options.eval } : {}),
        lockMs: options.lockSeconds * 1000,
        logger,
        signal: stopping.signal,
        cancelRunning: cancelling.signal,
        onEvent: say,
        runner: (settings) => {
          const env = modelEnv({
            ...(options.model ?? settings.model ? { model: options.model ?? settings.model } : {}),
            ...(options.baseUrl ?? settings.baseUrl ? { baseUrl: options.baseUrl ?? settings.baseUrl } : {}),
          });
          return startRunner(settings, { fathomBin, logger, env, concurrency: options.concurrency, ...(options.config ? { configPath: options.config } : {}) });
        },
      });
    });

  return program;
}

/** `fathom agent|trace|eval ...`: exit 0 on success, 1 when a task failed (eval: a run ended in error), 2 on a usage or set-up error. */
export async function runAgentCli(argv: string[], fathomBin: string): Promise<void> {
  try {
    const program = buildAgentProgram(fathomBin);
    // --x true|false and --x=true|false read like --x and --no-x, as for every fathom command.
    await program.parseAsync(normalizeBooleanArgs(program, ['node', 'fathom', ...argv]).slice(2), { from: 'user' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    say(isFathomError(error) ? error.toText() : `fathom: ${errorMessage(error)}`);
    process.exitCode = 2;
  }
}
