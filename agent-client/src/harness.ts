import { FathomError, mirothinkerHarness } from '@fathom/core';
import type { MirothinkerAgentConfig } from '@fathom/core';

/** The MiroThinker release whose tool outputs a config was evaluated with. */
export type Release = 'v1.0' | 'v1.5' | '1.7';

/** How one run is driven, with where each setting came from. */
export interface Harness {
  /** One of MiroThinker's agent config names. */
  name: string;
  release: Release;
  maxTurns: number;
  /** Tool results kept in full; -1 keeps them all. */
  keep: number;
  /** MiroThinker's context_compress_limit: retries after the first attempt; 0 for a single attempt. */
  compressLimit: number;
  retryWithSummary: boolean;
  /** [server, tool] pairs left out of the prompt. */
  hiddenTools: [string, string][];
  /** Final-answer requests per attempt (3 when every tool result is kept, else 1). */
  finalAnswerRetries: number;
  maxConsecutiveRollbacks: number;
  /** Turns that may be retried (rollbacks, failed model calls) beyond max turns. */
  extraAttemptsBuffer: number;
  /** Setting name → where its value came from. */
  sources: Record<string, string>;
}

export interface HarnessChoice {
  /** --agent-config or agent.config. */
  name?: string;
  /** Where `name` was given, e.g. "--agent-config". */
  nameFrom?: string;
  /** The served model id, for the default choice. */
  model: string;
  maxTurns?: number;
  keep?: number;
}

export function agentConfigNames(): string[] {
  return Object.keys(mirothinkerHarness().agentConfigs);
}

/** MiroThinker's recommended config for a model: 1.7 and 1.5 by their names, v1.0's otherwise. */
export function defaultAgentConfig(model: string): string {
  if (/(?<![\d.])v?1\.7(?![\d])/i.test(model)) return 'mirothinker_1.7_keep5_max200';
  if (/(?<![\d.])v?1\.5(?![\d])/i.test(model)) return 'mirothinker_v1.5_keep5_max200';
  return 'mirothinker_v1.0_keep5';
}

function releaseOf(name: string): Release {
  if (name.startsWith('mirothinker_1.7')) return '1.7';
  if (name.startsWith('mirothinker_v1.5')) return 'v1.5';
  return 'v1.0';
}

export function resolveHarness(choice: HarnessChoice): Harness {
  const data = mirothinkerHarness();
  const name = choice.name ?? defaultAgentConfig(choice.model);
  const config: MirothinkerAgentConfig | undefined = data.agentConfigs[name];
  if (!config) {
    throw new FathomError('invalid_argument', `Unknown agent config "${name}"${choice.nameFrom ? ` (${choice.nameFrom})` : ''}.`, {
      hint: `MiroThinker's agent configs: ${agentConfigNames().join(', ')}.`,
    });
  }
  const from = choice.name
    ? `agent config ${name} (${choice.nameFrom ?? '--agent-config'})`
    : `agent config ${name} (chosen for model "${choice.model}")`;
  const sources: Record<string, string> = { agentConfig: choice.name ? (choice.nameFrom ?? '--agent-config') : `chosen for model "${choice.model}"` };
  const pick = <T>(key: string, explicit: T | undefined, fallback: T, flag: string): T => {
    sources[key] = explicit === undefined ? from : flag;
    return explicit ?? fallback;
  };
  const keep = pick('keep', choice.keep, config.keepToolResult, '--keep');
  for (const key of ['release', 'compressLimit', 'retryWithSummary', 'hiddenTools']) sources[key] = from;
  const harness: Harness = {
    name,
    release: releaseOf(name),
    maxTurns: pick('maxTurns', choice.maxTurns, config.maxTurns, '--max-turns'),
    keep,
    compressLimit: config.contextCompressLimit,
    retryWithSummary: config.retryWithSummary,
    hiddenTools: config.toolBlacklist,
    finalAnswerRetries: keep === -1 ? data.limits.finalAnswerRetriesKeepAll : data.limits.finalAnswerRetries,
    maxConsecutiveRollbacks: data.limits.maxConsecutiveRollbacks,
    extraAttemptsBuffer: data.limits.extraAttemptsBuffer,
    sources,
  };
  sources.finalAnswerRetries = `answer_generator.py (${keep === -1 ? 'keep is -1' : 'keep is not -1'})`;
  sources.maxConsecutiveRollbacks = 'orchestrator.py';
  sources.extraAttemptsBuffer = 'orchestrator.py';
  return harness;
}

/** Attempts a run may make: MiroThinker's eval retries while retry count <= context_compress_limit. */
export function attemptsOf(harness: Pick<Harness, 'compressLimit'>): number {
  return harness.compressLimit > 0 ? harness.compressLimit + 1 : 1;
}

/** The live view's one-line statement of the regime in force. */
export function describeHarness(harness: Harness): string {
  const attempts = attemptsOf(harness);
  const summary = attempts > 1 ? (harness.retryWithSummary ? ', failure summary carried over' : ', each attempt from the task alone') : '';
  return (
    `agent config ${harness.name} (${harness.sources.agentConfig}): ${harness.maxTurns} turns, keep ${harness.keep === -1 ? 'all' : harness.keep} tool results, ` +
    `${attempts} attempt${attempts === 1 ? '' : 's'}${summary}`
  );
}

export interface SamplingSetting {
  name: string;
  value: string | number;
  from: string;
}

/** `fathom agent --print-agent-config`: every setting in force and where it came from. */
export function renderHarness(harness: Harness, sampling: SamplingSetting[]): string {
  const attempts = attemptsOf(harness);
  const rows: [string, string, string][] = [
    ['agent config', harness.name, harness.sources.agentConfig!],
    ['max turns', String(harness.maxTurns), harness.sources.maxTurns!],
    ['keep tool results', harness.keep === -1 ? '-1 (all)' : String(harness.keep), harness.sources.keep!],
    ['attempts', `${attempts} (context_compress_limit ${harness.compressLimit})`, harness.sources.compressLimit!],
    ['retry with summary', String(harness.retryWithSummary), harness.sources.retryWithSummary!],
    ['hidden tools', harness.hiddenTools.map(([server, tool]) => `${server}/${tool}`).join(', ') || 'none', harness.sources.hiddenTools!],
    ['final answer requests', String(harness.finalAnswerRetries), harness.sources.finalAnswerRetries!],
    ['consecutive rollbacks', String(harness.maxConsecutiveRollbacks), harness.sources.maxConsecutiveRollbacks!],
    ['tool output release', harness.release, harness.sources.release!],
    ...sampling.map(({ name, value, from }): [string, string, string] => [name, String(value), from]),
  ];
  const width = [0, 1].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map(([name, value, from]) => `${name.padEnd(width[0]!)}  ${value.padEnd(width[1]!)}  ${from}`).join('\n');
}
