export const DOCUMENT_TYPES = [
  'pdf',
  'docx',
  'xlsx',
  'xls',
  'ods',
  'csv',
  'tsv',
  'pptx',
  'html',
  'epub',
  'ipynb',
  'json',
  'jsonl',
  'yaml',
  'xml',
  'feed',
  'text',
  'markdown',
  'code',
  'zip',
  'tar',
  'gzip',
  'bzip2',
  'xz',
  'eml',
  'msg',
  'image',
  'audio',
] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** A table as the agent gets it from `extract_tables`: display strings, header separate. */
export interface Table {
  /** Where it stands: "page 3", "sheet Budget", "slide 2", "table 1". */
  location: string;
  caption?: string;
  header: string[];
  rows: string[][];
}

/**
 * One navigable part of a document: a PDF page, a sheet, a slide, an EPUB chapter, a ZIP member,
 * a feed item. A format without parts has one section of kind 'body'.
 */
export interface Section {
  kind: 'page' | 'sheet' | 'slide' | 'chapter' | 'member' | 'item' | 'body';
  /** 1-based position among the document's sections. */
  index: number;
  /** How the agent names it: "3" for page 3, the sheet name, the member path. */
  name: string;
  /** Complete markdown for this part, including its own heading or marker. */
  markdown: string;
  hidden?: boolean;
  tables?: Table[];
}

export interface DocumentInfo {
  type: DocumentType;
  mimeType: string;
  title?: string;
  author?: string;
  created?: string;
  modified?: string;
  pages?: number;
  sheets?: string[];
  slides?: number;
  /** Headings, chapter titles or member paths: the document's table of contents. */
  outline?: string[];
  /** What the agent should know about the conversion: "no text layer (scanned); OCR needed". */
  notes?: string[];
  /** HTML: the page's `<link rel="canonical">`, absolute. */
  canonicalUrl?: string;
  /** Text formats: the character encoding the bytes were read in. */
  encoding?: string;
  /** Format-specific facts: image dimensions, audio duration, EXIF fields, e-mail headers. */
  properties?: Record<string, string | number | boolean>;
}

export interface ConvertedDocument {
  info: DocumentInfo;
  sections: Section[];
  /** HTML: the decoded page itself, when asked for with `keepHtml`. */
  html?: string;
}

export interface ConvertInput {
  bytes: Uint8Array;
  /** File name or URL path, for the extension. */
  name?: string;
  /** Content-Type from a server or a data: URI, with any charset parameter. */
  mimeType?: string;
  /** Where it came from, to resolve relative links. */
  url?: string;
}

export interface ConvertLimits {
  /** Largest input, and largest total an archive or a compressed file may expand to. */
  maxBytes: number;
  /** Most expanded/compressed size ratio of a ZIP member or a compressed file before it is refused as a bomb. */
  maxZipRatio: number;
  /** Most members of a ZIP or TAR archive. */
  maxZipMembers: number;
  /** How deep archives inside archives are opened. */
  maxNesting: number;
}

export const DEFAULT_LIMITS: ConvertLimits = {
  maxBytes: 100 * 1024 * 1024,
  maxZipRatio: 200,
  maxZipMembers: 2000,
  maxNesting: 3,
};

export interface ConvertOptions {
  limits: ConvertLimits;
  /** HTML: the main content only (default) or the whole page. */
  mainContent: boolean;
  /** HTML: open the markdown with the page title as a `#` heading (default), unless a caller shows the title itself. */
  titleHeading: boolean;
  /** HTML: return the decoded page beside its markdown. */
  keepHtml?: boolean;
  /**
   * Convert only what reads as a document, as a web page reader wants: refuse images, audio, ZIP
   * archives and binary data with an error that points to read_document.
   */
  documentsOnly?: boolean;
  /** Images: OCR with tesseract.js when its language data is installed. */
  ocr: boolean;
  /** Audio: an OpenAI-compatible /audio/transcriptions endpoint. */
  transcribe?: { url: string; apiKey?: string; model: string };
  /** Nesting depth inside archives; 0 at the top. */
  depth: number;
}

export const DEFAULT_OPTIONS: ConvertOptions = { limits: DEFAULT_LIMITS, mainContent: true, titleHeading: true, ocr: true, depth: 0 };

/**
 * Converts a document found inside another (an archive member, a mail attachment, a decompressed
 * file). `convert()` hands itself to every converter, so the container formats need not import it.
 */
export type ConvertFn = (input: ConvertInput, options: ConvertOptions) => Promise<ConvertedDocument>;

/** What each format module exports. */
export interface Converter {
  types: readonly DocumentType[];
  convert(input: ConvertInput, type: DocumentType, options: ConvertOptions, inner: ConvertFn): Promise<ConvertedDocument>;
}
