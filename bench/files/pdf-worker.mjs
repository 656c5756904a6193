// One worker thread of the PDF measurement in bench/files/run.mjs. Each in-process extractor runs
// in a thread of its own: pdf.js's core-js polyfills replace Array.prototype.push for the whole
// realm, so an extractor sharing a realm with another that loaded pdf.js first would run slower.
//
// workerData.tool:
//   'fathom'     convert() from @fathom/files/convert: { text } (the markdown)
//   'extract'    extractPdf(bytes, first, last) from @fathom/files/convert/pdf: { extract } for assemblePdf
//   'pages'      convertPdfPages(bytes, first, last) from @fathom/files/convert/pdf: { text }
//   'pdfparse'   new PDFParse({ data }).getText(): { text }
import { parentPort, workerData } from 'node:worker_threads';

const { tool } = workerData;
const markdownOf = (document) => document.sections.map((section) => section.markdown).join('\n\n');

let handle;
if (tool === 'fathom') {
  const { convert } = await import('@fathom/files/convert');
  handle = async ({ bytes }) => ({ text: markdownOf(await convert({ bytes, name: 'document.pdf' })) });
} else if (tool === 'extract') {
  const { extractPdf } = await import('@fathom/files/convert/pdf');
  handle = async ({ bytes, first, last }) => ({ extract: await extractPdf(bytes, first, last) });
} else if (tool === 'pages') {
  const { convertPdfPages } = await import('@fathom/files/convert/pdf');
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
