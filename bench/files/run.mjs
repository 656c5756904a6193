// Document conversion: Fathom's converters (@fathom/files/convert, as built) against the usual tools,
// on real documents found on this machine, in the same run.
//
//   node bench/files/run.mjs [--quick] [--only pdf,docx,html] [--rounds R] [--html-pages N] [--docx N]
//                            [--timeout-s S]
//
// 1. PDF text: Fathom's PDF converter (in-process, and split across 2 worker threads when pdf.js
//    exports convertPdfPages) vs poppler's `pdftotext file -` (spawned) vs pdf-parse.
// 2. DOCX: Fathom's DOCX converter vs `pandoc -f docx -t gfm` (spawned), on DOCX files pandoc
//    makes from real HTML pages at the start of the run (in a temp dir, removed at the end).
// 3. HTML to markdown: Fathom's htmlToMarkdown (main content) vs turndown + GFM on the raw HTML vs
//    linkedom + Readability + turndown.
//
// Documents are the real ones installed here: PDFs under /usr/share (gzipped ones are unpacked to
// the temp dir), HTML documentation of the Rust toolchain under /root/.rustup and of the packages
// under /usr/share/doc. Nothing touches the network: HTML handed to pandoc loses its iframes and
// remote images first. The markdown tables go to stdout and to bench/results/files.md
// (files-quick.md with --quick; --only pdf,html writes files-pdf-html.md); progress and notes go
// to stderr.
//
// corpus.mjs finds and makes the documents, harness.mjs runs and times the tools, measures.mjs
// compares their outputs and report.mjs writes the tables.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gfm } from '@joplin/turndown-plugin-gfm';
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import TurndownService from 'turndown';
import { docxCorpus, htmlCorpus, pdfCorpus } from './corpus.mjs';
import { cleanUp, cleanUpOnExit, hasCommand, importConverter, makeWorkDir, markdownOf, measure, note, pdfWorker, run, splitPages } from './harness.mjs';
import { sum } from './measures.mjs';
import { docxReport, htmlReport, pdfReport, renderPage } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, '..', 'results');

// ---------------------------------------------------------------- options

function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const options = quick
    ? { rounds: 1, htmlPages: 30, docx: 8, timeoutS: 540 }
    : { rounds: 5, htmlPages: 90, docx: 24, timeoutS: 2100 };
  const numeric = { '--rounds': 'rounds', '--html-pages': 'htmlPages', '--docx': 'docx', '--timeout-s': 'timeoutS' };
  options.only = ['pdf', 'docx', 'html'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    if (arg === '--only') {
      options.only = String(argv[++i] ?? '').split(',').filter(Boolean);
      if (options.only.length === 0 || options.only.some((part) => !['pdf', 'docx', 'html'].includes(part))) throw new Error('--only takes a comma-separated list of pdf, docx, html');
      continue;
    }
    const key = numeric[arg];
    if (!key) throw new Error(`Unknown option ${arg}; known: --quick --only ${Object.keys(numeric).join(' ')}`);
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < 1 || value > 100_000) throw new Error(`${arg} needs an integer from 1 to 100000`);
    options[key] = value;
  }
  // Per-document repetitions for the fast (in-process, per-page) measurements.
  options.reps = quick ? 2 : Math.max(5, options.rounds);
  return { quick, ...options };
}

/** The tools in their order on even repetitions, reversed on odd ones. */
const alternating = (tools) => (rep) => (rep % 2 === 0 ? tools : [...tools].reverse());

// ---------------------------------------------------------------- 1. PDF

async function benchPdf(options, env, workDir) {
  const documents = await pdfCorpus(workDir);
  env.pdf = documents;
  if (documents.length === 0) return { markdown: '### PDF text\n\nNo PDFs found on this machine.\n', verdict: [] };
  const tools = [];
  const opened = [];
  tools.push({
    key: 'pdftotext',
    label: 'pdftotext (poppler, spawned)',
    extract: async (doc) => (await run('pdftotext', [doc.path, '-'], { timeoutMs: 120_000 })).stdout.toString('utf8'),
  });
  const started = performance.now();
  const parse = await pdfWorker('pdfparse');
  opened.push(parse);
  tools.push({
    key: 'pdfparse',
    label: 'pdf-parse (`new PDFParse({data}).getText()`)',
    extract: async (doc) => (await parse.ask(new Uint8Array(doc.data))).text,
  });
  const pdfModule = await importConverter('@fathom/files/convert/pdf');
  if (pdfModule) {
    const fathom = await pdfWorker('fathom');
    opened.push(fathom);
    tools.push({
      key: 'fathom',
      label: 'Fathom `convert()`',
      extract: async (doc) => (await fathom.ask(new Uint8Array(doc.data))).text,
    });
    // Split across 2 threads: extractPdf on each half, assemblePdf here (the same output as one
    // thread, running lines judged over the whole file); else convertPdfPages per half.
    const assemble = typeof pdfModule.extractPdf === 'function' && typeof pdfModule.assemblePdf === 'function';
    if (assemble || typeof pdfModule.convertPdfPages === 'function') {
      const pool = [await pdfWorker(assemble ? 'extract' : 'pages'), await pdfWorker(assemble ? 'extract' : 'pages')];
      opened.push(...pool);
      env.pdfSplit = assemble ? '`extractPdf` per half in each thread, `assemblePdf` on the main thread' : '`convertPdfPages` per half';
      tools.push({
        key: 'fathom2',
        label: 'Fathom, pages split over 2 worker threads',
        extract: async (doc) => {
          const ranges = splitPages(doc.pages, pool.length);
          const answers = await Promise.all(ranges.map(([first, last], k) => pool[k].ask(new Uint8Array(doc.data), first, last)));
          return assemble ? markdownOf(pdfModule.assemblePdf(answers.map((answer) => answer.extract))) : answers.map((answer) => answer.text).join('\n\n');
        },
      });
    } else note('pdf.js exports neither extractPdf + assemblePdf nor convertPdfPages: no split-thread measurement');
  } else note('Fathom PDF converter not built (@fathom/files/convert/pdf): its rows are left out');
  env.pdfWorkersMs = performance.now() - started;

  try {
    for (const doc of documents) doc.data = readFileSync(doc.path);
    // Warm-up, untimed (module loading, JIT; each worker thread warms up on its own): every
    // document once, or with --quick the documents of up to 40 pages.
    const warm = options.quick ? documents.filter((doc) => doc.pages <= 40) : documents;
    for (const tool of tools) for (const doc of warm) await tool.extract(doc).catch(() => undefined);
    note(`PDF warm-up done (${sum(warm.map((doc) => doc.pages))} pages per extractor)`);

    const { times, outputs: texts } = await measure({
      tools,
      inputs: documents,
      repetitions: options.rounds,
      order: (round, d) => tools.map((_, i) => tools[(i + round + d) % tools.length]),
      call: (tool, doc) => tool.extract(doc),
      failed: (tool, d, _round, error) => note(`${tool.key} failed on ${documents[d].name}: ${error.message.split('\n')[0]}`),
      repeated: (round) => note(`PDF round ${round + 1}/${options.rounds} done`),
    });
    return pdfReport({ documents, tools, times, texts, options, env });
  } finally {
    for (const doc of documents) delete doc.data;
    await Promise.all(opened.map((worker) => worker.close()));
  }
}

// ---------------------------------------------------------------- 2. DOCX

async function benchDocx(options, env, htmlPages, workDir) {
  if (!(await hasCommand('pandoc', ['--version']))) return { markdown: '### DOCX\n\npandoc is not installed: skipped.\n', verdict: [] };
  const documents = await docxCorpus(htmlPages, options.docx, workDir);
  env.docx = documents;
  if (documents.length === 0) return { markdown: '### DOCX\n\nNo DOCX could be made.\n', verdict: [] };
  const tools = [
    {
      key: 'pandoc',
      label: 'pandoc -f docx -t gfm (spawned)',
      extract: async (doc) => (await run('pandoc', ['-f', 'docx', '-t', 'gfm', doc.path], { timeoutMs: 60_000 })).stdout.toString('utf8'),
    },
  ];
  const index = await importConverter('@fathom/files/convert');
  if (index) {
    tools.unshift({
      key: 'fathom',
      label: 'Fathom `convert()`',
      extract: async (doc) => markdownOf(await index.convert({ bytes: new Uint8Array(doc.data), name: basename(doc.path) })),
    });
  } else note('Fathom DOCX converter not built: its row is left out');

  for (const doc of documents) doc.data = readFileSync(doc.path);
  for (const tool of tools) await tool.extract(documents[0]);
  const { times, outputs } = await measure({
    tools,
    inputs: documents,
    repetitions: options.reps,
    order: alternating(tools),
    call: (tool, doc) => tool.extract(doc),
    failed: (tool, d, rep, error) => rep === 0 && note(`${tool.key} failed on ${documents[d].name}: ${error.message.split('\n')[0]}`),
  });
  for (const doc of documents) delete doc.data;

  return docxReport({ documents, tools, times, outputs, options });
}

// ---------------------------------------------------------------- 3. HTML

async function benchHtml(options, env, pages) {
  const html = await importConverter('@fathom/files/convert');
  const tools = [];
  if (html) {
    tools.push({ key: 'fathom', label: 'Fathom `htmlToMarkdown` (main content)', convert: (text) => html.htmlToMarkdown(text).markdown });
  } else note('Fathom @fathom/files/convert not built: its row is left out');
  const raw = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced' });
  raw.use(gfm);
  tools.push({ key: 'turndown', label: 'turndown + GFM plugin, raw HTML', convert: (text) => raw.turndown(text) });
  const usual = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced' });
  usual.use(gfm);
  const readability = (text) => {
    const { document } = parseHTML(text);
    return new Readability(document).parse();
  };
  tools.push({
    key: 'readability',
    label: 'linkedom + Readability + turndown',
    convert: (text) => usual.turndown(readability(text)?.content ?? ''),
  });

  const texts = pages.map((page) => readFileSync(page.path, 'utf8'));
  for (const tool of tools) for (const text of texts.slice(0, 3)) tool.convert(text);
  const { times, outputs } = await measure({
    tools,
    inputs: texts,
    repetitions: options.reps,
    order: alternating(tools),
    call: (tool, text) => tool.convert(text),
    failed: (tool, p, rep, error) => rep === 0 && note(`${tool.key} failed on ${pages[p].name}: ${error.message.split('\n')[0]}`),
    repeated: (rep) => note(`HTML repetition ${rep + 1}/${options.reps} done`),
  });

  return htmlReport({ pages, texts, tools, times, outputs, options, readability });
}

// ---------------------------------------------------------------- main

async function main() {
  cleanUpOnExit();
  const options = parseOptions(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    note(`gave up after ${options.timeoutS} s`);
    cleanUp();
    process.exit(1);
  }, options.timeoutS * 1000);
  watchdog.unref();
  const workDir = makeWorkDir();
  if (!(await hasCommand('pdftotext', ['-v']))) throw new Error('pdftotext (poppler-utils) is not installed');

  const env = { load: loadavg()[0] };
  const htmlPages = htmlCorpus(options.htmlPages);
  note(`corpus: ${htmlPages.length} HTML pages`);
  const skipped = { markdown: '', verdict: [] };
  const docx = options.only.includes('docx') ? await benchDocx(options, env, htmlPages, workDir) : skipped;
  const pdf = options.only.includes('pdf') ? await benchPdf(options, env, workDir) : skipped;
  const htmlResult = options.only.includes('html') ? await benchHtml(options, env, htmlPages) : skipped;

  const markdown = await renderPage({ options, env, htmlPages, sections: [pdf, docx, htmlResult] });
  mkdirSync(resultsDir, { recursive: true });
  const partial = options.only.length < 3 ? `-${options.only.join('-')}` : '';
  const file = join(resultsDir, `files${partial}${options.quick ? '-quick' : ''}.md`);
  writeFileSync(file, markdown);
  process.stdout.write(markdown);
  note(`wrote ${file}`);
}

main().then(
  () => {
    cleanUp();
    process.exit(0);
  },
  (error) => {
    note(`failed: ${error?.stack ?? error}`);
    cleanUp();
    process.exit(1);
  },
);
