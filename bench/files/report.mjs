// The tables bench/files/run.mjs writes: one per format with the verdict against the targets, and
// the page that holds them.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { median, percentile } from '../lib/stats.mjs';
import { note, run } from './harness.mjs';
import { blockText, coverage, gfmRows, hasBase64, htmlRows, markdownWords, sum, topMissing, withoutRunningLines, words } from './measures.mjs';

/** The issue's targets. */
const TARGET = {
  /** pdftotext's pages/s measured elsewhere on this machine; the verdict uses this run's figure. */
  pdfReferencePagesPerSecond: 241,
  /** Word agreement with pdftotext that counts as "the same text". */
  pdfAgreement: 0.99,
  htmlP50Ms: 27,
  htmlTokenRatio: 1.1,
};

const fmt = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const int = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
const pct = (value, digits = 1) => (Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : 'n/a');

/** The PDF table, the per-file table and the verdict, from the texts and times of each extractor. */
export function pdfReport({ documents, tools, times, texts, options, env }) {
  const reference = documents.map((_, d) => words(texts.get('pdftotext')[d] ?? ''));
  const bodyReference = documents.map((_, d) => words(withoutRunningLines(texts.get('pdftotext')[d] ?? '')));
  const rows = [];
  const perDoc = [];
  for (const tool of tools) {
    const ms = documents.map((_, d) => median(times.get(tool.key)[d]));
    const ok = documents.map((_, d) => texts.get(tool.key)[d] !== undefined && Number.isFinite(ms[d]));
    const output = documents.map((_, d) => (ok[d] ? markdownWords(texts.get(tool.key)[d]) : undefined));
    const agreements = documents.map((_, d) => (ok[d] ? coverage(reference[d], output[d]) : undefined));
    const bodyAgreements = documents.map((_, d) => (ok[d] ? coverage(bodyReference[d], output[d]) : undefined));
    const share = (list) => {
      const total = sum(list.map((a, d) => a?.total ?? sum([...bodyReference[d].values()])));
      return total === 0 ? 1 : sum(list.map((a) => a?.found ?? 0)) / total;
    };
    const totalPages = sum(documents.map((doc, d) => (ok[d] ? doc.pages : 0)));
    const totalMs = sum(ms.filter((_, d) => ok[d]));
    const multiMs = sum(ms.filter((_, d) => ok[d] && documents[d].pages > 1));
    const multiPages = sum(documents.map((doc, d) => (ok[d] && doc.pages > 1 ? doc.pages : 0)));
    rows.push({
      tool,
      failed: ok.filter((v) => !v).length,
      pagesPerSecond: (totalPages * 1000) / totalMs,
      multiPagesPerSecond: (multiPages * 1000) / multiMs,
      totalMs,
      chars: sum(documents.map((_, d) => texts.get(tool.key)[d]?.length ?? 0)),
      agreement: share(agreements),
      minAgreement: Math.min(...agreements.map((a) => a?.share ?? 0)),
      bodyAgreement: share(bodyAgreements),
      minBodyAgreement: Math.min(...bodyAgreements.map((a) => a?.share ?? 0)),
    });
    perDoc.push({ tool, ms, agreements: bodyAgreements });
    if (tool.key === 'fathom' || tool.key === 'pdfparse') {
      for (const [d, a] of bodyAgreements.entries()) {
        if (a && a.share < 0.999) note(`${tool.key} misses ${a.total - a.found} of pdftotext's ${a.total} words on ${documents[d].name}: ${topMissing(a.missing)}`);
      }
    }
  }

  const base = rows.find((row) => row.tool.key === 'pdftotext');
  const lines = [
    '### PDF text extraction',
    '',
    `| extractor | pages/s (all ${sum(documents.map((d) => d.pages))} pages) | pages/s (multi-page files) | total ms | characters out | words of pdftotext found: all · body text (worst file) | vs pdftotext pages/s |`,
    '|---|--:|--:|--:|--:|---|--:|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.tool.label}${row.failed ? ` (${row.failed} failed)` : ''} | ${fmt(row.pagesPerSecond)} | ${fmt(row.multiPagesPerSecond)} | ${int(row.totalMs)} | ${int(row.chars)} | ` +
        `${row.tool.key === 'pdftotext' ? 'reference' : `${pct(row.agreement, 2)} · ${pct(row.bodyAgreement, 2)} (${pct(row.minBodyAgreement)})`} | ${fmt(row.pagesPerSecond / base.pagesPerSecond, 2)}x |`,
    );
  }
  lines.push('', '| file | pages | KiB | ' + tools.map((tool) => `${tool.key} ms`).join(' | ') + ' | ' + tools.filter((t) => t.key !== 'pdftotext').map((t) => `${t.key} body words`).join(' | ') + ' |');
  lines.push('|---|--:|--:|' + tools.map(() => '--:|').join('') + tools.filter((t) => t.key !== 'pdftotext').map(() => '--:|').join(''));
  for (const [d, doc] of documents.entries()) {
    const cells = perDoc.map((entry) => fmt(entry.ms[d], 1));
    const agree = perDoc.filter((entry) => entry.tool.key !== 'pdftotext').map((entry) => pct(entry.agreements[d]?.share, 2));
    lines.push(`| ${doc.name} | ${doc.pages} | ${int(doc.bytes / 1024)} | ${cells.join(' | ')} | ${agree.join(' | ')} |`);
  }

  const verdict = [];
  const fathomRows = rows.filter((row) => row.tool.key.startsWith('fathom'));
  if (fathomRows.length === 0) {
    verdict.push({ target: 'PDF at pdftotext pages/s with the same text', status: 'not measured: pdf.js not built' });
  } else {
    const best = fathomRows.reduce((a, b) => (b.pagesPerSecond > a.pagesPerSecond ? b : a));
    const fast = best.pagesPerSecond >= base.pagesPerSecond;
    const same = best.bodyAgreement >= TARGET.pdfAgreement;
    verdict.push({
      target: `PDF: pdftotext's pages/s (${fmt(base.pagesPerSecond)} here; ${TARGET.pdfReferencePagesPerSecond} measured before) or better, same text (≥ ${pct(TARGET.pdfAgreement, 0)} of its body-text words)`,
      status:
        `${fast && same ? 'met' : 'NOT met'}: best Fathom row (${best.tool.label}) ${fmt(best.pagesPerSecond)} pages/s = ` +
        `${fmt(best.pagesPerSecond / base.pagesPerSecond, 2)}x pdftotext in this run (${fast ? 'met' : 'missed'}; ` +
        `${best.pagesPerSecond >= TARGET.pdfReferencePagesPerSecond ? 'above' : 'below'} the ${TARGET.pdfReferencePagesPerSecond} pages/s figure); ` +
        `${pct(best.bodyAgreement, 2)} of its body-text words, worst file ${pct(best.minBodyAgreement)} (${same ? 'met' : 'missed'})`,
    });
  }
  lines.push(
    '',
    `Each time is the median of ${options.rounds} round${options.rounds === 1 ? '' : 's'} per file (tools in rotating order, after an untimed warm-up pass over ${options.quick ? 'the files of up to 40 pages' : 'every file'}); pages/s = pages / sum of the medians. ` +
      'pdftotext is timed as a spawned process per file (start-up included). The others run in-process, each extractor in a worker thread of its own ' +
      "(pdf.js's core-js polyfills replace Array.prototype.push for a whole realm, which would slow whichever extractor loaded pdf.js second), timed from the main thread; " +
      `the threads start once before timing (${fmt(env.pdfWorkersMs)} ms for all, not counted)` +
      (env.pdfSplit ? `; the split row uses ${env.pdfSplit}` : '') +
      '. Words: letters and digits, lower-cased, as a multiset; the share of pdftotext\'s words found in the output (markdown syntax and link targets ignored; ' +
      'a word split or joined differently, e.g. by dehyphenation, counts where the output\'s words run together contain it). ' +
      '"Body text" leaves out the running lines Fathom drops on purpose: page numbers and lines at a page\'s top or bottom two that recur (digits aside) on 3 or more pages. ' +
      "Characters: each tool's whole output (pdf-parse adds page separators, Fathom markdown).",
  );
  return { markdown: lines.join('\n') + '\n', verdict };
}

/** The DOCX table and the verdict, from the markdown and times of each converter. */
export function docxReport({ documents, tools, times, outputs, options }) {
  const pandocWords = documents.map((_, d) => markdownWords(outputs.get('pandoc')[d] ?? '', { rawHtml: true }));
  const sourceRows = sum(documents.map((doc) => doc.rows));
  const lines = [
    '### DOCX to markdown',
    '',
    `| converter | ms/doc p50 | ms/doc mean | ms/doc max | characters out | tokens out (o200k) | GFM table rows (source: ${sourceRows} data-table rows) | HTML table rows | docs with every data-table row as GFM | words of pandoc found | base64 in output |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|',
  ];
  const summary = {};
  for (const tool of tools) {
    const ms = documents.map((_, d) => median(times.get(tool.key)[d]));
    const texts = outputs.get(tool.key);
    const good = texts.map((text) => text !== undefined);
    const markdowns = texts.map((text) => text ?? '');
    const recall = documents.map((_, d) => coverage(pandocWords[d], markdownWords(markdowns[d], { rawHtml: true })));
    const found = sum(recall.map((r) => r.found));
    const total = sum(recall.map((r) => r.total));
    const complete = documents.filter((doc, d) => gfmRows(markdowns[d]) >= doc.rows).length;
    summary[tool.key] = { rows: sum(markdowns.map(gfmRows)), complete, base64: markdowns.filter(hasBase64).length };
    lines.push(
      `| ${tool.label}${good.includes(false) ? ` (${good.filter((g) => !g).length} failed)` : ''} | ${fmt(median(ms.filter(Number.isFinite)), 1)} | ${fmt(sum(ms.filter(Number.isFinite)) / ms.filter(Number.isFinite).length, 1)} | ${fmt(Math.max(...ms.filter(Number.isFinite)), 0)} | ` +
        `${int(sum(markdowns.map((m) => m.length)))} | ${int(sum(markdowns.map((m) => countTokens(m))))} | ${int(summary[tool.key].rows)} | ${int(sum(markdowns.map(htmlRows)))} | ` +
        `${complete}/${documents.length} | ${tool.key === 'pandoc' ? 'reference' : `${pct(found / total)} (worst ${pct(Math.min(...recall.map((r) => r.share)))})`} | ${markdowns.filter(hasBase64).length} |`,
    );
    if (tool.key === 'fathom') {
      for (const [d, doc] of documents.entries()) if (ms[d] > 500) note(`fathom DOCX ${fmt(ms[d])} ms on ${doc.name} (${int(doc.bytes / 1024)} KiB)`);
      for (const [d, r] of recall.entries()) if (r.share < 0.99) note(`fathom DOCX misses ${r.total - r.found} of pandoc's ${r.total} words on ${documents[d].name}: ${topMissing(r.missing)}`);
      for (const [d, doc] of documents.entries()) if (gfmRows(markdowns[d]) < doc.rows) note(`fathom DOCX: ${documents[d].name} has ${doc.rows} data-table rows, ${gfmRows(markdowns[d])} GFM rows out`);
    }
  }
  lines.push(
    '',
    `${documents.length} DOCX files (${documents.filter((doc) => doc.tables > 0).length} with tables; ${sum(documents.map((doc) => doc.tables))} tables, of which ${sum(documents.map((doc) => doc.dataTables))} data tables ` +
      `with ${sourceRows} rows: two or more columns, no table inside or around them; the rest are one-cell boxes and layout tables), made with \`pandoc -f html -t docx\` from pages of the HTML corpus ` +
      `(iframes and remote images removed first). Times: median of ${options.reps} runs per document after a warm-up; pandoc is a spawned process per document (start-up included), Fathom runs in-process. ` +
      'GFM table rows: lines `| … |` that are not the `---` line; HTML table rows: `<tr>` (pandoc writes tables GFM cannot hold as HTML). ' +
      '"Every data-table row as GFM": documents whose GFM rows are at least their data-table rows. Words of pandoc found: as for PDF, HTML tags, entities and link targets left out. Tokens: gpt-tokenizer o200k_base.',
  );
  const verdict = [];
  if (summary.fathom) {
    const ok = summary.fathom.complete === documents.length && summary.fathom.base64 === 0;
    verdict.push({
      target: 'DOCX (no speed target; DESIGN.md): tables survive as GFM, no base64',
      status:
        `${ok ? 'met' : 'NOT met'}: every data-table row as GFM in ${summary.fathom.complete}/${documents.length} documents (pandoc ${summary.pandoc.complete}/${documents.length}); ` +
        `${summary.fathom.rows} GFM rows vs pandoc's ${summary.pandoc.rows}; base64 in ${summary.fathom.base64}`,
    });
  }
  return { markdown: lines.join('\n') + '\n', verdict };
}

/** The HTML table and the verdict, from the markdown and times of each pipeline; readability(html) gives the reference article. */
export function htmlReport({ pages, texts, tools, times, outputs, options, readability }) {
  // Readability's main text, the reference for recall (Readability run on the page as it is).
  const mainWords = texts.map((text) => words(blockText(readability(text)?.content ?? '')));
  const tokens = new Map(tools.map((tool) => [tool.key, outputs.get(tool.key).map((m) => (m === undefined ? NaN : countTokens(m)))]));
  const readabilityTokens = sum(tokens.get('readability').filter(Number.isFinite));
  const lines = [
    '### HTML to markdown',
    '',
    '| pipeline | ms/page p50 | ms/page p95 | ms/page mean | tokens/page mean (o200k) | tokens vs Readability pipeline | main-text recall (all · worst page) | pages losing main text |',
    '|---|--:|--:|--:|--:|--:|---|--:|',
  ];
  const stats = {};
  for (const tool of tools) {
    const ms = pages.map((_, p) => median(times.get(tool.key)[p])).filter(Number.isFinite);
    const toolTokens = tokens.get(tool.key).filter(Number.isFinite);
    const recall = pages.map((_, p) => coverage(mainWords[p], markdownWords(outputs.get(tool.key)[p] ?? '')));
    const found = sum(recall.map((r) => r.found));
    const total = sum(recall.map((r) => r.total));
    const losing = recall.filter((r) => r.found < r.total).length;
    stats[tool.key] = {
      p50: percentile(ms, 50),
      p95: percentile(ms, 95),
      ratio: sum(toolTokens) / readabilityTokens,
      recall: found / total,
      worst: Math.min(...recall.map((r) => r.share)),
      losing,
      lost: total - found,
    };
    lines.push(
      `| ${tool.label} | ${fmt(stats[tool.key].p50, 1)} | ${fmt(stats[tool.key].p95, 1)} | ${fmt(sum(ms) / ms.length, 1)} | ${int(sum(toolTokens) / toolTokens.length)} | ` +
        `${fmt(stats[tool.key].ratio, 2)}x | ${pct(stats[tool.key].recall, 2)} · ${pct(stats[tool.key].worst, 1)} | ${losing}/${pages.length} (${int(total - found)} words) |`,
    );
    if (tool.key === 'fathom') {
      for (const [p, r] of recall.entries()) {
        if (r.found < r.total) note(`fathom HTML loses ${r.total - r.found} of ${r.total} main-text words on ${pages[p].name}: ${topMissing(r.missing)}`);
      }
      const ratios = pages
        .map((page, p) => ({ page, ratio: tokens.get('fathom')[p] / tokens.get('readability')[p], ms: median(times.get('fathom')[p]) }))
        .sort((a, b) => b.ratio - a.ratio);
      for (const entry of ratios.slice(0, 5)) note(`fathom HTML tokens ${fmt(entry.ratio, 2)}x Readability's on ${entry.page.name}`);
      const slow = pages.map((page, p) => ({ page, ms: median(times.get('fathom')[p]) })).sort((a, b) => b.ms - a.ms);
      for (const entry of slow.slice(0, 5)) note(`fathom HTML ${fmt(entry.ms, 1)} ms on ${entry.page.name} (${int(entry.page.size / 1024)} KiB)`);
    }
  }
  const collections = [...new Set(pages.map((page) => page.collection))];
  lines.push(
    '',
    `${pages.length} pages, ${int(sum(pages.map((page) => page.size)) / 1024)} KiB of HTML (median ${int(median(pages.map((page) => page.size)) / 1024)} KiB, largest ${int(Math.max(...pages.map((page) => page.size)) / 1024)} KiB), ` +
      `from ${collections.length} collections: ${collections.join(', ')}. ` +
      `Each page's time is the median of ${options.reps} runs (pipelines alternate order) after a warm-up; p50/p95 are over pages. ` +
      'Main-text recall: the share of the words of Readability\'s article (Readability on the unmodified page; its text with a break at each block, as a multiset) that appear in the output ' +
        '(link targets left out; a word that inline markup joined or split differently counts where the output\'s words run together contain it); ' +
      '"pages losing main text" counts pages where any such word is missing. Turndown uses atx headings and fenced code in both comparison pipelines.',
  );
  const verdict = [];
  if (stats.fathom) {
    const f = stats.fathom;
    const fast = f.p50 < TARGET.htmlP50Ms;
    const small = f.ratio <= TARGET.htmlTokenRatio;
    const whole = f.losing === 0;
    verdict.push({
      target: `HTML: main content under ${TARGET.htmlP50Ms} ms/page p50, ≤ ${TARGET.htmlTokenRatio}x Readability's tokens, no main text lost`,
      status:
        `${fast && small && whole ? 'met' : 'NOT met'}: p50 ${fmt(f.p50, 1)} ms (${fast ? 'met' : 'missed'}), ${fmt(f.ratio, 2)}x tokens (${small ? 'met' : 'missed'}), ` +
        `${f.losing} page${f.losing === 1 ? '' : 's'} losing ${int(f.lost)} main-text words (${whole ? 'met' : 'missed'})`,
    });
  }
  return { markdown: lines.join('\n') + '\n', verdict };
}

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return `${match ? match[1].trim() : (cpus()[0]?.model ?? 'unknown')} (${cpus().length} logical CPUs)`;
  } catch {
    return `${cpus()[0]?.model ?? 'unknown'} (${cpus().length} logical CPUs)`;
  }
}

async function versions() {
  const first = async (command, args) => {
    try {
      return (await run(command, args, { timeoutMs: 10_000 })).stdout.toString('utf8').split('\n')[0].trim();
    } catch {
      return `${command} missing`;
    }
  };
  const pdftotext = await run('pdftotext', ['-v'], { timeoutMs: 10_000 }).then(
    (result) => result.stderr.split('\n')[0].trim(),
    () => 'pdftotext missing',
  );
  return `${pdftotext}, ${await first('pandoc', ['--version'])}`;
}

/** The results page: the machine and corpus, every verdict, then each section's tables (pdf, docx, html). */
export async function renderPage({ options, env, htmlPages, sections }) {
  const [pdf, docx, htmlResult] = sections;
  const verdicts = [...pdf.verdict, ...docx.verdict, ...htmlResult.verdict];
  const header =
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpuModel()} · ${await versions()} · ` +
    `corpus: ${env.pdf?.length ?? 0} PDFs (${sum((env.pdf ?? []).map((d) => d.pages))} pages), ${env.docx?.length ?? 0} DOCX, ${htmlPages.length} HTML pages` +
    ` · load average ${fmt(env.load, 1)} at start, ${fmt(loadavg()[0], 1)} at end${options.quick ? ' · --quick' : ''}`;
  return [
    '## Document conversion: Fathom converters vs the usual tools',
    '',
    header,
    '',
    '| target (files issue) | status |',
    '|---|---|',
    ...verdicts.map((v) => `| ${v.target} | ${v.status} |`),
    '',
    pdf.markdown,
    docx.markdown,
    htmlResult.markdown,
  ].join('\n');
}
