// One worker thread of the PDF measurement in bench/files/run.mjs. Each in-process extractor runs
// in a thread of its own: pdf.js's core-js polyfills replace Array.prototype.push for the whole
// realm, so an extractor sharing a realm with another that loaded pdf.js first would run slower.
//
// workerData.tool:
//   'fathom'     convert() from servers/files/dist/convert/index.js: { text } (the markdown)
//   'extract'    extractPdf(bytes, first, last) from pdf.js: { extract } for assemblePdf
//   'pages'      convertPdfPages(bytes, first, last) from pdf.js: { text }
//   'pdfparse'   new PDFParse({ data }).getText(): { text }
import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { tool, convertDir } = workerData;
const load = (file) => import(pathToFileURL(join(convertDir, file)).href);
const markdownOf = (document) => document.sections.map((section) => section.markdown).join('\n\n');

let handle;
if (tool === 'fathom') {
  const { convert } = await load('index.js');
  handle = async ({ bytes }) => ({ text: markdownOf(await convert({ bytes, name: 'document.pdf' })) });
} else if (tool === 'extract') {
  const { extractPdf } = await load('pdf.js');
  handle = async ({ bytes, first, last }) => ({ extract: await extractPdf(bytes, first, last) });
} else if (tool === 'pages') {
  const { convertPdfPages } = await load('pdf.js');
  handle = async ({ bytes, first, last }) => ({ text: markdownOf(await convertPdfPages(bytes, first, last)) });
} else if (tool === 'pdfparse') {
  const { PDFParse } = await import('pdf-parse');
  handle = async ({ bytes }) => {
    const parser = new PDFParse({ data: bytes });
    try {
      return { text: (await parser.getText()).text };
    } finally {
      await parser.destroy();
    }
  };
} else {
  throw new Error(`unknown tool ${tool}`);
}

parentPort.on('message', async (message) => {
  try {
    parentPort.postMessage({ id: message.id, ...(await handle(message)) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String(error?.stack ?? error) });
  }
});
parentPort.postMessage({ ready: true });
