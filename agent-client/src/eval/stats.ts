import { interactionBuckets } from '../chart.js';
import type { Bucket } from '../chart.js';
import type { JudgeSettings } from '../score.js';
import { runKey } from './resume.js';
import { skippedRuns } from './schedule.js';
import type { EvalTask, FailureKind, ResultLine } from './types.js';

export interface Stat {
  mean: number;
  median: number;
}

export interface Rate {
  correct: number;
  of: number;
  accuracy: number;
}

export interface LevelSummary {
  level: string;
  tasks: number;
  exact: Rate;
  judged?: Rate;
  /** pass@k at k = runs. */
  passAtK: number;
}

export interface EvalSummary {
  tasks: number;
  runs: number;
  /** tasks × runs */
  total: number;
  /** Runs that ended, with or without an answer (not in error). */
  finished: number;
  /** Runs that ended in error: not scored, run again on resume. */
  errors: number;
  /** Runs early stop made unnecessary. */
  skipped: number;
  earlyStop: boolean;
  /** Finished runs of tasks that have an answer. */
  scored: number;
  exact: Rate;
  /** With a judge: its verdicts; a run it could not judge counts as wrong and is counted in `undecided`. */
  judged?: Rate & { model: string; undecided: number };
  /**
   * pass@k for k = 1..runs, exact match: the unbiased estimator over each task's finished runs, or
   * with early stop the share of tasks answered correctly within their first k runs.
   */
  passAtK: Record<number, number>;
  judgedPassAtK?: Record<number, number>;
  /** By GAIA level, when the tasks carry one. */
  levels: LevelSummary[];
  /** Per run, over finished runs. */
  stats: { runs: number; turns: Stat; toolCalls: Stat; tokens: Stat; ms: Stat };
  failures: Partial<Record<FailureKind, number>>;
  /** Accuracy (judged, else exact) against tool calls and turns per run. */
  scaling: { toolCalls: Bucket[]; turns: Bucket[] };
  perTask: Array<{ task_id: string; truth: string | null; level?: string; runs: Array<ResultLine | undefined> }>;
}

/** What runEval returns: the summary and the summary.md text. */
export interface EvalReport extends EvalSummary {
  markdown: string;
}

export function summarize(lines: ResultLine[], tasks: EvalTask[], runs: number, judge?: JudgeSettings, earlyStop = false): EvalSummary {
  const done = lines.filter((line) => line.status !== 'error');
  const byTask = new Map<string, ResultLine[]>();
  for (const line of done) byTask.set(line.task_id, [...(byTask.get(line.task_id) ?? []), line]);
  const scored = done.filter((line) => line.correct !== null);
  const rate = (correct: number, of: number): Rate => ({ correct, of, accuracy: of ? correct / of : 0 });
  const stat = (pick: (line: ResultLine) => number): Stat => statOf(done.map(pick));
  const failures: Partial<Record<FailureKind, number>> = {};
  for (const line of lines) if (line.failure) failures[line.failure] = (failures[line.failure] ?? 0) + 1;
  const passes = (taskIds: string[], correctOf: (line: ResultLine) => boolean) => {
    const out: Record<number, number> = {};
    for (let k = 1; k <= runs; k++) {
      const values = taskIds.flatMap((id) => {
        const taskLines = (byTask.get(id) ?? []).filter((line) => line.correct !== null).sort((a, b) => a.run - b.run);
        if (earlyStop) {
          const first = taskLines.find(correctOf);
          if (first && first.run <= k) return [1];
          return taskLines.filter((line) => line.run <= k).length >= k ? [0] : [];
        }
        return taskLines.length >= k ? [passAtK(taskLines.length, taskLines.filter(correctOf).length, k)] : [];
      });
      out[k] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
    }
    return out;
  };
  const allIds = tasks.map((task) => task.task_id);
  const judgedCorrect = (line: ResultLine) => line.judged === true;
  const exactCorrect = (line: ResultLine) => line.correct === true;
  const finishedMap = new Map(lines.map((line) => [runKey(line.task_id, line.run), line]));
  const skipped = earlyStop ? skippedRuns(finishedMap, tasks, runs) : 0;
  const levelNames = [...new Set(tasks.flatMap((task) => (task.level !== undefined ? [task.level] : [])))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const levels = levelNames.map((level): LevelSummary => {
    const levelIds = tasks.filter((task) => task.level === level).map((task) => task.task_id);
    const levelScored = scored.filter((line) => levelIds.includes(line.task_id));
    return {
      level,
      tasks: levelIds.length,
      exact: rate(levelScored.filter(exactCorrect).length, levelScored.length),
      ...(judge ? { judged: rate(levelScored.filter(judgedCorrect).length, levelScored.length) } : {}),
      passAtK: passes(levelIds, judge ? judgedCorrect : exactCorrect)[runs] ?? 0,
    };
  });
  const scalingCorrect = judge ? judgedCorrect : exactCorrect;
  return {
    tasks: tasks.length,
    runs,
    total: tasks.length * runs,
    finished: done.length,
    errors: lines.length - done.length,
    skipped,
    earlyStop,
    scored: scored.length,
    exact: rate(scored.filter(exactCorrect).length, scored.length),
    ...(judge
      ? {
          judged: { ...rate(scored.filter(judgedCorrect).length, scored.length), model: judge.model, undecided: scored.filter((line) => line.judged === undefined).length },
          judgedPassAtK: passes(allIds, judgedCorrect),
        }
      : {}),
    passAtK: passes(allIds, exactCorrect),
    levels,
    stats: {
      runs: done.length,
      turns: stat((line) => line.turns),
      toolCalls: stat((line) => line.tool_calls),
      tokens: stat((line) => line.tokens),
      ms: stat((line) => line.ms),
    },
    failures,
    scaling: {
      toolCalls: interactionBuckets(scored.map((line) => ({ value: line.tool_calls, correct: scalingCorrect(line) }))),
      turns: interactionBuckets(scored.map((line) => ({ value: line.turns, correct: scalingCorrect(line) }))),
    },
    perTask: tasks.map((task) => {
      const taskLines = lines.filter((line) => line.task_id === task.task_id);
      return {
        task_id: task.task_id,
        truth: task.answer ?? null,
        ...(task.level !== undefined ? { level: task.level } : {}),
        runs: Array.from({ length: runs }, (_, index) => taskLines.find((line) => line.run === index + 1)),
      };
    }),
  };
}

/** 1 - C(n-c, k) / C(n, k): the chance that at least one of k runs drawn from n is correct. */
export function passAtK(n: number, c: number, k: number): number {
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

function statOf(values: number[]): Stat {
  if (!values.length) return { mean: 0, median: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, median };
}
