import { CHART_FILE } from '../chart.js';
import { formatMs } from '../trace.js';
import { isCorrect } from './resume.js';
import type { EvalSummary } from './stats.js';
import type { EvalProgress, ResultLine } from './types.js';

export const SUMMARY_FILE = 'summary.md';

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const decimal = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 1 }));

export function renderSummary(summary: EvalSummary): string {
  const out: string[] = ['# Eval summary', ''];
  const parts = [`${summary.finished} finished`];
  if (summary.errors) parts.push(`${summary.errors} ended in error`);
  if (summary.skipped) parts.push(`${summary.skipped} not needed (early stop)`);
  const notRun = summary.total - summary.finished - summary.errors - summary.skipped;
  if (notRun) parts.push(`${notRun} not run yet`);
  const complete = summary.finished + summary.skipped === summary.total ? `all finished${summary.skipped ? `, ${summary.skipped} not needed (early stop)` : ''}` : parts.join(', ');
  out.push(`- Runs: ${summary.tasks} tasks × ${summary.runs} run${summary.runs > 1 ? 's' : ''} = ${summary.total} (${complete})`);
  if (summary.errors) {
    out.push(`- Errors: ${summary.errors} run${summary.errors > 1 ? 's' : ''} could not run to their end (model endpoint, servers or a crash; see the Errors table). They are not scored; run the same command again to run them.`);
  }
  out.push(`- Exact match: ${summary.exact.correct}/${summary.exact.of} = ${percent(summary.exact.accuracy)}`);
  if (summary.judged) {
    const undecided = summary.judged.undecided ? ` (${summary.judged.undecided} undecided)` : '';
    out.push(`- Judged by ${summary.judged.model}: ${summary.judged.correct}/${summary.judged.of} = ${percent(summary.judged.accuracy)}${undecided}`);
  }
  const passLine = (passes: Record<number, number>) =>
    Object.entries(passes)
      .map(([k, value]) => `pass@${k} ${percent(value)}`)
      .join(' · ');
  const how = summary.earlyStop ? ' (early stop: a task counts from its first correct run on)' : '';
  out.push(`- Exact ${passLine(summary.passAtK)}${how}`);
  if (summary.judgedPassAtK) out.push(`- Judged ${passLine(summary.judgedPassAtK)}${how}`);
  if (summary.levels.length) {
    const judged = summary.levels.some((level) => level.judged);
    out.push('', '## By level', '', `| level | tasks | exact |${judged ? ' judged |' : ''} pass@${summary.runs} |`, `|---|---:|---:|${judged ? '---:|' : ''}---:|`);
    for (const level of summary.levels) {
      const judgedCell = judged ? ` ${level.judged ? `${level.judged.correct}/${level.judged.of} = ${percent(level.judged.accuracy)}` : ''} |` : '';
      out.push(`| ${cell(level.level)} | ${level.tasks} | ${level.exact.correct}/${level.exact.of} = ${percent(level.exact.accuracy)} |${judgedCell} ${percent(level.passAtK)} |`);
    }
  }
  out.push('', `Per run (${summary.stats.runs} finished runs):`, '', '| | mean | median |', '|---|---:|---:|');
  const { turns, toolCalls, tokens, ms } = summary.stats;
  out.push(`| turns | ${decimal(turns.mean)} | ${decimal(turns.median)} |`);
  out.push(`| tool calls | ${decimal(toolCalls.mean)} | ${decimal(toolCalls.median)} |`);
  out.push(`| tokens | ${decimal(Math.round(tokens.mean))} | ${decimal(Math.round(tokens.median))} |`);
  out.push(`| time | ${formatMs(ms.mean)} | ${formatMs(ms.median)} |`);
  out.push('', '## Interaction scaling', '');
  out.push(`Accuracy (${summary.judged ? 'judged' : 'exact match'}) of the scored runs by how many tool calls and turns each made.`, '');
  out.push(`![Accuracy against tool calls and turns per run](${CHART_FILE})`, '');
  out.push('| tool calls | runs | correct | accuracy |', '|---|---:|---:|---:|');
  for (const bucket of summary.scaling.toolCalls) out.push(`| ${bucket.label} | ${bucket.runs} | ${bucket.correct} | ${percent(bucket.accuracy)} |`);
  out.push('', '| turns | runs | correct | accuracy |', '|---|---:|---:|---:|');
  for (const bucket of summary.scaling.turns) out.push(`| ${bucket.label} | ${bucket.runs} | ${bucket.correct} | ${percent(bucket.accuracy)} |`);
  out.push('', '## Errors and failures', '');
  const failures = Object.entries(summary.failures);
  if (failures.length) {
    const kind = (name: string) => (name === 'crash' || name === 'model error' ? 'error (run again on resume)' : 'finished, no answer');
    out.push('| kind | runs | counted as |', '|---|---:|---|', ...failures.map(([name, count]) => `| ${name} | ${count} | ${kind(name)} |`));
  } else out.push('None.');
  out.push('', '## Tasks', '');
  const runHeads = Array.from({ length: summary.runs }, (_, index) => `run ${index + 1}`);
  const withLevel = summary.perTask.some((task) => task.level !== undefined);
  out.push(`| task |${withLevel ? ' level |' : ''} truth | ${runHeads.join(' | ')} |`, `|---|${withLevel ? '---|' : ''}---|${runHeads.map(() => '---').join('|')}|`);
  for (const task of summary.perTask) {
    out.push(`| ${cell(task.task_id)} |${withLevel ? ` ${cell(task.level ?? '')} |` : ''} ${cell(task.truth ?? '')} | ${task.runs.map(runCell).join(' | ')} |`);
  }
  out.push('', 'A run cell: ✓ exact match, ≈ judged correct, ✗ wrong, ⚠ ended in error; then the answer, and the tool calls and turns it took.');
  return out.join('\n') + '\n';
}

function runCell(line: ResultLine | undefined): string {
  if (!line) return '';
  if (line.status === 'error') return cell(`⚠ ${line.error ?? 'error'}`);
  const mark = line.correct === null ? '' : line.correct ? '✓ ' : line.judged ? '≈ ' : '✗ ';
  const answer = line.answer ?? '—';
  const failure = line.failure ? ` (${line.failure})` : '';
  return `${cell(`${mark}${answer}${failure}`)} · ${line.tool_calls} calls, ${line.turns} turns`;
}

function cell(text: string): string {
  const flat = text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();
  return flat.length > 60 ? flat.slice(0, 59) + '…' : flat;
}

/** `[████████░░░░░░░░] 12/103  acc 58.3%  no answer 2  err 1  12m 03s  eta 1h 02m` */
export function progressLine(progress: EvalProgress, barWidth = 20): string {
  const filled = progress.total ? Math.floor((progress.done / progress.total) * barWidth) : barWidth;
  const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled);
  return [`[${bar}] ${progress.done}/${progress.total}`, ...progressFacts(progress)].join('  ');
}

function progressFacts(progress: EvalProgress): string[] {
  const accuracy = progress.scored ? percent(progress.correct / progress.scored) : '—';
  return [
    `acc ${accuracy}`,
    `no answer ${progress.failures}`,
    `err ${progress.errors}`,
    ...(progress.running ? [`running ${progress.running}${progress.workers?.length ? ` (${progress.workers.map((load) => `${load.worker} ${load.running}`).join(', ')})` : ''}`] : []),
    formatMs(progress.elapsedMs),
    `eta ${progress.etaMs === undefined ? '—' : formatMs(progress.etaMs)}`,
  ];
}

/**
 * One plain line per finished run, for a log file or a pipe:
 * `12/103  t7 run 1: correct "42" (5 turns, 4 tool calls, 12.3s)  acc 58.3%  no answer 2  err 1  12m 03s  eta 1h 02m`
 */
export function progressRecord(progress: EvalProgress): string | undefined {
  const line = progress.last;
  if (!line) return undefined;
  const verdict =
    line.status === 'error'
      ? `error: ${oneLine(line.error ?? 'unknown')}`
      : `${line.correct === null ? 'answered' : isCorrect(line) ? 'correct' : 'wrong'} ${line.answer === null ? '(no answer)' : JSON.stringify(cut(line.answer, 60))}`;
  const facts = `(${line.turns} turns, ${line.tool_calls} tool calls, ${formatMs(line.ms)})`;
  return [`${progress.done}/${progress.total}  ${line.task_id} run ${line.run}: ${verdict} ${facts}`, ...progressFacts(progress)].join('  ');
}

function oneLine(text: string): string {
  return cut(text.replace(/\s+/g, ' ').trim(), 200);
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, width - 1) + '…';
}
