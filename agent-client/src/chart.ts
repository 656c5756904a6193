/**
 * Interaction scaling, the MiroThinker paper's central analysis: accuracy against how much a run
 * interacted (tool calls, turns). Runs are put in buckets that widen as counts grow, and each
 * bucket's accuracy is drawn as a point, as a hand-written SVG that any browser or markdown
 * viewer shows.
 */

export const CHART_FILE = 'interaction-scaling.svg';

export interface Bucket {
  /** e.g. "6–10", "0", "601+". */
  label: string;
  /** Smallest count in the bucket. */
  from: number;
  /** Largest count in the bucket; undefined for the last, open one. */
  to?: number;
  runs: number;
  correct: number;
  accuracy: number;
}

/** Where each bucket starts; the last one is open. */
const STARTS = [0, 1, 3, 6, 11, 21, 51, 101, 201, 401, 601];

function bucketIndex(value: number): number {
  let index = 0;
  while (index + 1 < STARTS.length && value >= STARTS[index + 1]!) index++;
  return index;
}

function bucketLabel(index: number): string {
  const from = STARTS[index]!;
  const next = STARTS[index + 1];
  if (next === undefined) return `${from}+`;
  return next - 1 === from ? String(from) : `${from}–${next - 1}`;
}

/** The buckets that hold at least one run, in order. */
export function interactionBuckets(points: { value: number; correct: boolean }[]): Bucket[] {
  const counts = STARTS.map(() => ({ runs: 0, correct: 0 }));
  for (const point of points) {
    const count = counts[bucketIndex(Math.max(0, point.value))]!;
    count.runs++;
    if (point.correct) count.correct++;
  }
  return counts.flatMap((count, index) => {
    if (!count.runs) return [];
    const next = STARTS[index + 1];
    return [{ label: bucketLabel(index), from: STARTS[index]!, ...(next !== undefined ? { to: next - 1 } : {}), runs: count.runs, correct: count.correct, accuracy: count.correct / count.runs }];
  });
}

const WIDTH = 760;
const PANEL_HEIGHT = 300;
const TOP = 56;
const MARGIN = { left: 72, right: 24, top: 40, bottom: 64 };
const COLORS = { toolCalls: '#2563eb', turns: '#c2410c' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fixed = (value: number) => Number(value.toFixed(1));

function panel(title: string, axis: string, series: 'tool calls' | 'turns', buckets: Bucket[], color: string, top: number): string {
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const plotTop = top + MARGIN.top;
  const plotBottom = top + PANEL_HEIGHT - MARGIN.bottom;
  const y = (accuracy: number) => fixed(plotBottom - accuracy * (plotBottom - plotTop));
  const step = buckets.length ? (right - left) / buckets.length : 0;
  const x = (index: number) => fixed(left + step * (index + 0.5));
  const out: string[] = [`<g class="panel" data-series="${series}">`];
  out.push(`<text x="${left}" y="${top + 22}" class="title">${escapeXml(title)}</text>`);
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${left}" y1="${y(tick)}" x2="${right}" y2="${y(tick)}" class="grid"/>`);
    out.push(`<text x="${left - 8}" y="${y(tick) + 4}" class="tick" text-anchor="end">${tick * 100}%</text>`);
  }
  out.push(`<line x1="${left}" y1="${plotBottom}" x2="${right}" y2="${plotBottom}" class="axis"/>`);
  out.push(`<line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotBottom}" class="axis"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${plotBottom + 44}" class="label" text-anchor="middle">${escapeXml(axis)}</text>`);
  const middle = (plotTop + plotBottom) / 2;
  out.push(`<text x="${left - 52}" y="${middle}" class="label" text-anchor="middle" transform="rotate(-90 ${left - 52} ${middle})">accuracy</text>`);
  if (!buckets.length) {
    out.push(`<text x="${(left + right) / 2}" y="${middle}" class="empty" text-anchor="middle">No scored runs yet</text>`, '</g>');
    return out.join('\n');
  }
  buckets.forEach((bucket, index) => {
    out.push(`<text x="${x(index)}" y="${plotBottom + 20}" class="tick" text-anchor="middle">${escapeXml(bucket.label)}</text>`);
  });
  if (buckets.length > 1) {
    out.push(`<polyline points="${buckets.map((bucket, index) => `${x(index)},${y(bucket.accuracy)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
  }
  buckets.forEach((bucket, index) => {
    const accuracy = Number(bucket.accuracy.toFixed(4));
    out.push(
      `<circle class="point" cx="${x(index)}" cy="${y(bucket.accuracy)}" r="5" fill="${color}" data-series="${series}" data-bucket="${escapeXml(bucket.label)}" data-runs="${bucket.runs}" data-correct="${bucket.correct}" data-accuracy="${accuracy}">` +
        `<title>${escapeXml(`${bucket.label} ${series}: ${bucket.correct}/${bucket.runs} correct (${(bucket.accuracy * 100).toFixed(1)}%)`)}</title></circle>`,
    );
    const above = bucket.accuracy > 0.9 ? y(bucket.accuracy) + 20 : y(bucket.accuracy) - 10;
    out.push(`<text x="${x(index)}" y="${above}" class="count" text-anchor="middle">n=${bucket.runs}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Two panels, accuracy by tool calls and by turns; `n=` over each point is the number of runs in its bucket. */
export function renderScalingChart(scaling: { toolCalls: Bucket[]; turns: Bucket[] }, options: { judged?: boolean } = {}): string {
  const height = TOP + 2 * PANEL_HEIGHT;
  const measure = options.judged ? 'judged' : 'exact match';
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.title{font-size:15px;font-weight:bold;fill:#111}.label{font-size:13px;fill:#333}.tick{font-size:12px;fill:#444}.count{font-size:11px;fill:#555}.empty{font-size:14px;fill:#888}.grid{stroke:#e5e7eb;stroke-width:1}.axis{stroke:#444;stroke-width:1}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="26" text-anchor="middle" class="title">Interaction scaling: accuracy (${measure}) against interaction per run</text>`,
    `<text x="${WIDTH / 2}" y="46" text-anchor="middle" class="count">each point: the scored runs whose count falls in the bucket; n = how many</text>`,
    panel('By tool calls per run', 'tool calls per run', 'tool calls', scaling.toolCalls, COLORS.toolCalls, TOP),
    panel('By turns per run', 'turns per run', 'turns', scaling.turns, COLORS.turns, TOP + PANEL_HEIGHT),
    '</svg>',
    '',
  ].join('\n');
}
