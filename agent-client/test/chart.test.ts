import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHART_FILE, interactionBuckets, renderScalingChart } from '../src/chart.js';
import { readResults, runEval } from '../src/eval.js';
import type { EvalTask, RunTask } from '../src/eval.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-chart-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Node = Record<string, unknown>;
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['g', 'circle', 'line', 'text'].includes(name) });

function parseSvg(text: string): Node {
  expect(XMLValidator.validate(text)).toBe(true);
  return (parser.parse(text) as { svg: Node }).svg;
}

interface Point {
  bucket: string;
  runs: number;
  correct: number;
  accuracy: number;
  cy: number;
}

/** Each panel's points, and the y of its 0% and 100% grid lines. */
function panels(svg: Node): Record<string, { points: Point[]; zero: number; full: number }> {
  const out: Record<string, { points: Point[]; zero: number; full: number }> = {};
  for (const group of svg.g as Node[]) {
    const ticks = (group.text as Node[]).filter((text) => text.class === 'tick');
    const grid = (group.line as Node[]).filter((line) => line.class === 'grid').map((line) => Number(line.y1));
    const points = ((group.circle as Node[] | undefined) ?? []).map((circle) => ({
      bucket: String(circle['data-bucket']),
      runs: Number(circle['data-runs']),
      correct: Number(circle['data-correct']),
      accuracy: Number(circle['data-accuracy']),
      cy: Number(circle.cy),
    }));
    expect(ticks.map((tick) => tick['#text']).slice(0, 5)).toEqual(['0%', '25%', '50%', '75%', '100%']);
    out[String(group['data-series'])] = { points, zero: grid[0]!, full: grid[4]! };
  }
  return out;
}

describe('interaction-scaling chart', () => {
  it('is well-formed SVG whose points are the accuracy of the runs in each bucket of tool calls and turns', async () => {
    // Tool calls per task, whether it is answered right, and turns (one more than its calls).
    const plan: [number, boolean][] = [
      [0, true],
      [2, true],
      [2, false],
      [4, false],
      [7, true],
      [15, true],
      [15, true],
      [15, false],
      [30, false],
      [700, true],
    ];
    const tasks: EvalTask[] = plan.map((_, index) => ({ task_id: `t${index}`, question: 'q', answer: 'right' }));
    const runTask: RunTask = async (task) => {
      const [calls, right] = plan[Number(task.task_id.slice(1))]!;
      return { answer: right ? 'right' : 'wrong', turns: calls + 1, toolCalls: calls, tokens: 1, ms: 1, stop: 'answered' };
    };
    await runEval({ tasks, runs: 1, concurrency: 3, outDir: dir, timeLimitMs: 10_000, runTask });

    const text = readFileSync(join(dir, CHART_FILE), 'utf8');
    const svg = parseSvg(text);
    expect(svg.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(text).toContain('tool calls per run');
    expect(text).toContain('turns per run');
    expect(text).toContain('accuracy');
    const charted = panels(svg);

    // The same buckets, counted here from results.jsonl.
    const results = readResults(join(dir, 'results.jsonl'));
    const count = (pick: (calls: number) => string) => {
      const buckets = new Map<string, { runs: number; correct: number }>();
      for (const line of results) {
        const bucket = pick(line.tool_calls);
        const entry = buckets.get(bucket) ?? { runs: 0, correct: 0 };
        entry.runs++;
        if (line.correct) entry.correct++;
        buckets.set(bucket, entry);
      }
      return [...buckets.entries()].map(([bucket, { runs, correct }]) => ({ bucket, runs, correct }));
    };
    const byCalls = (calls: number) => ['0', '1–2', '1–2', '3–5', '3–5', '3–5', '6–10', '6–10', '6–10', '6–10', '6–10'][calls] ?? (calls <= 20 ? '11–20' : calls <= 50 ? '21–50' : '601+');
    const byTurns = (calls: number) => byCalls(calls + 1);
    const expectPoints = (series: string, expected: { bucket: string; runs: number; correct: number }[]) => {
      const { points, zero, full } = charted[series]!;
      expect(points.map(({ bucket, runs, correct }) => ({ bucket, runs, correct }))).toEqual(expected);
      for (const point of points) {
        expect(point.accuracy).toBeCloseTo(point.correct / point.runs, 4);
        // Where the point is drawn says its accuracy on the axis.
        expect((zero - point.cy) / (zero - full)).toBeCloseTo(point.accuracy, 2);
      }
    };
    expectPoints('tool calls', count(byCalls));
    expectPoints('turns', count(byTurns));
    expect(charted['tool calls']!.points.map((point) => point.bucket)).toEqual(['0', '1–2', '3–5', '6–10', '11–20', '21–50', '601+']);
    expect(charted.turns!.points.map((point) => point.bucket)).toEqual(['1–2', '3–5', '6–10', '11–20', '21–50', '601+']);

    const summary = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(summary).toContain(`](${CHART_FILE})`);
    expect(summary).toContain('| 11–20 | 3 | 2 | 66.7% |');
  });

  it('says when there is nothing to draw, and escapes what it writes', () => {
    const empty = parseSvg(renderScalingChart({ toolCalls: [], turns: [] }));
    expect(JSON.stringify(empty)).toContain('No scored runs yet');
    const buckets = interactionBuckets([{ value: 3, correct: true }]);
    expect(buckets).toEqual([{ label: '3–5', from: 3, to: 5, runs: 1, correct: 1, accuracy: 1 }]);
    parseSvg(renderScalingChart({ toolCalls: [{ ...buckets[0]!, label: 'a<b & "c"' }], turns: buckets }, { judged: true }));
  });
});
