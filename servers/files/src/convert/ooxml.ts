import { posix } from 'node:path';
import { FathomError } from '@fathom/core';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import JSZip from 'jszip';
import type { ConvertLimits } from './types.js';

/** Shared parts of the Office Open XML converters (DOCX, PPTX): the zip, XML trees, metadata, OMML. */

export interface XNode {
  name: string;
  attrs: Record<string, string>;
  children: XNode[];
  /** Only on '#text' nodes. */
  text?: string;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  htmlEntities: true,
});

type Ordered = Record<string, unknown>;

function toNodes(items: Ordered[]): XNode[] {
  const nodes: XNode[] = [];
  for (const item of items) {
    const name = Object.keys(item).find((key) => key !== ':@');
    if (name === undefined || name.startsWith('?')) continue;
    if (name === '#text') {
      nodes.push({ name, attrs: {}, children: [], text: String(item[name]) });
      continue;
    }
    const attrs = (item[':@'] as Record<string, string> | undefined) ?? {};
    nodes.push({ name, attrs, children: toNodes((item[name] as Ordered[] | undefined) ?? []) });
  }
  return nodes;
}

/** An XML part as an ordered tree under a '#document' root. */
export function parseXml(xml: string): XNode {
  return { name: '#document', attrs: {}, children: toNodes(parser.parse(xml) as Ordered[]) };
}

/** Why an XML part is not well-formed, or undefined when it is. */
export function xmlProblem(xml: string): string | undefined {
  const result = XMLValidator.validate(xml);
  return result === true ? undefined : `${result.err.msg.replace(/\.$/, '')} at line ${result.err.line}`;
}

export function child(node: XNode | undefined, name: string): XNode | undefined {
  return node?.children.find((c) => c.name === name);
}

export function childrenNamed(node: XNode | undefined, name: string): XNode[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

/** All descendants with this name, in document order. */
export function descendants(node: XNode | undefined, name: string, found: XNode[] = []): XNode[] {
  for (const c of node?.children ?? []) {
    if (c.name === name) found.push(c);
    descendants(c, name, found);
  }
  return found;
}

export function find(node: XNode | undefined, name: string): XNode | undefined {
  for (const c of node?.children ?? []) {
    if (c.name === name) return c;
    const deeper = find(c, name);
    if (deeper) return deeper;
  }
  return undefined;
}

export function textContent(node: XNode | undefined): string {
  if (!node) return '';
  if (node.text !== undefined) return node.text;
  return node.children.map(textContent).join('');
}

const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
const ENCRYPTED_PACKAGE = Buffer.from('EncryptedPackage', 'utf16le');

/** A password-protected OOXML file is an OLE container whose directory names an "EncryptedPackage" stream. */
export function isEncryptedOoxml(bytes: Uint8Array): boolean {
  return OLE_MAGIC.every((byte, i) => bytes[i] === byte) && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(ENCRYPTED_PACKAGE);
}

export type OoxmlLabel = 'DOCX' | 'PPTX';

const LEGACY: Record<OoxmlLabel, string> = { DOCX: 'Word 97-2003 (.doc)', PPTX: 'PowerPoint 97-2003 (.ppt)' };

/** Opens the package, or says plainly why it cannot: encrypted, legacy binary Office, damaged, or missing its main part. */
export async function openPackage(bytes: Uint8Array, label: OoxmlLabel, mainPart: string): Promise<JSZip> {
  if (isEncryptedOoxml(bytes)) {
    throw new FathomError('invalid_argument', `Encrypted ${label}: a password is needed to open it`, {
      hint: 'Open it in Office with the password, remove the protection (File > Info > Protect), save a copy and convert that.',
    });
  }
  if (OLE_MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw new FathomError('invalid_argument', `Not a ${label}: this is a legacy ${LEGACY[label]} file (OLE compound document)`, {
      hint: `Save it as .${label.toLowerCase()} in Office or LibreOffice and convert that copy.`,
    });
  }
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes);
  } catch (error) {
    throw new FathomError('invalid_argument', `Corrupt ${label}: not a readable ZIP archive; the file is damaged, truncated or not a ${label}`, {
      hint: 'Download or export the file again; if it is another format, pass its real name or type.',
      cause: error,
    });
  }
  if (!zip.file(mainPart)) {
    throw new FathomError('invalid_argument', `Corrupt ${label}: the archive has no ${mainPart}`, {
      hint: `The file is a ZIP but not a ${label}; re-export it from Office, or convert it as a plain ZIP archive.`,
    });
  }
  return zip;
}

/** Runs a conversion step; anything but a FathomError means the package's content is damaged. */
export async function readingPackage<T>(label: OoxmlLabel, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof FathomError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new FathomError('invalid_argument', `Corrupt ${label}: its content cannot be read (${reason})`, {
      hint: 'Open and re-save it in Office or LibreOffice, then convert the new copy.',
      cause: error,
    });
  }
}

/** A text part of the package, or undefined when it is absent. */
export async function readPart(zip: JSZip, path: string, limits: ConvertLimits, label: OoxmlLabel): Promise<string | undefined> {
  const file = zip.file(path);
  if (!file) return undefined;
  let text: string;
  try {
    text = await file.async('string');
  } catch (error) {
    throw new FathomError('invalid_argument', `Corrupt ${label}: the part ${path} cannot be decompressed`, {
      hint: 'Download or export the file again.',
      cause: error,
    });
  }
  if (text.length > limits.maxBytes) {
    throw new FathomError('too_large', `The ${label} part ${path} expands to ${text.length} characters, over the ${limits.maxBytes}-byte limit`, {
      hint: 'Ask the operator to raise FATHOM_MAX_FILE_BYTES, or split the document.',
    });
  }
  return text;
}

export interface CoreProperties {
  title?: string;
  author?: string;
  created?: string;
  modified?: string;
}

export async function coreProperties(zip: JSZip, limits: ConvertLimits, label: OoxmlLabel): Promise<CoreProperties> {
  const xml = await readPart(zip, 'docProps/core.xml', limits, label);
  if (!xml) return {};
  const root = parseXml(xml);
  const value = (name: string) => textContent(find(root, name)).trim() || undefined;
  const properties: CoreProperties = {};
  const title = value('dc:title');
  const author = value('dc:creator');
  const created = value('dcterms:created');
  const modified = value('dcterms:modified');
  if (title) properties.title = title;
  if (author) properties.author = author;
  if (created) properties.created = created;
  if (modified) properties.modified = modified;
  return properties;
}

export interface Relationship {
  type: string;
  /** A package path for internal targets, the address as written for external ones. */
  target: string;
  external: boolean;
}

/** The relationships of a part (from its _rels/…rels), targets resolved to package paths. */
export async function relationships(zip: JSZip, partPath: string, limits: ConvertLimits, label: OoxmlLabel): Promise<Map<string, Relationship>> {
  const dir = posix.dirname(partPath);
  const xml = await readPart(zip, posix.join(dir, '_rels', `${posix.basename(partPath)}.rels`), limits, label);
  const rels = new Map<string, Relationship>();
  if (!xml) return rels;
  for (const rel of descendants(parseXml(xml), 'Relationship')) {
    const { Id: id, Type: type = '', Target: target = '', TargetMode: mode } = rel.attrs;
    if (!id) continue;
    const external = mode === 'External';
    const resolved = external ? target : target.startsWith('/') ? target.slice(1) : posix.normalize(posix.join(dir, target));
    rels.set(id, { type, target: resolved, external });
  }
  return rels;
}

// ---- OMML (Office Math) to LaTeX ----

const SYMBOLS: Record<string, string> = {
  α: '\\alpha', β: '\\beta', γ: '\\gamma', δ: '\\delta', ε: '\\epsilon', ϵ: '\\epsilon', ζ: '\\zeta', η: '\\eta', θ: '\\theta',
  ϑ: '\\vartheta', ι: '\\iota', κ: '\\kappa', λ: '\\lambda', μ: '\\mu', ν: '\\nu', ξ: '\\xi', π: '\\pi', ϖ: '\\varpi', ρ: '\\rho',
  ϱ: '\\varrho', σ: '\\sigma', ς: '\\varsigma', τ: '\\tau', υ: '\\upsilon', φ: '\\phi', ϕ: '\\phi', χ: '\\chi', ψ: '\\psi', ω: '\\omega',
  Γ: '\\Gamma', Δ: '\\Delta', Θ: '\\Theta', Λ: '\\Lambda', Ξ: '\\Xi', Π: '\\Pi', Σ: '\\Sigma', Υ: '\\Upsilon', Φ: '\\Phi', Ψ: '\\Psi',
  Ω: '\\Omega', '≤': '\\leq', '≥': '\\geq', '≠': '\\neq', '±': '\\pm', '∓': '\\mp', '×': '\\times', '÷': '\\div', '·': '\\cdot',
  '⋅': '\\cdot', '∙': '\\cdot', '∗': '\\ast', '∞': '\\infty', '→': '\\rightarrow', '←': '\\leftarrow', '↔': '\\leftrightarrow',
  '⇒': '\\Rightarrow', '⇐': '\\Leftarrow', '⇔': '\\Leftrightarrow', '↦': '\\mapsto', '∂': '\\partial', '∇': '\\nabla',
  '∈': '\\in', '∉': '\\notin', '∋': '\\ni', '⊂': '\\subset', '⊃': '\\supset', '⊆': '\\subseteq', '⊇': '\\supseteq', '∪': '\\cup',
  '∩': '\\cap', '∅': '\\emptyset', '∀': '\\forall', '∃': '\\exists', '¬': '\\neg', '∧': '\\wedge', '∨': '\\vee', '≈': '\\approx',
  '≡': '\\equiv', '≅': '\\cong', '∼': '\\sim', '≃': '\\simeq', '∝': '\\propto', '≪': '\\ll', '≫': '\\gg', '∘': '\\circ',
  '⊥': '\\perp', '∥': '\\parallel', '∠': '\\angle', '°': '^{\\circ}', '′': "'", '″': "''", '…': '\\ldots', '⋯': '\\cdots',
  '⋮': '\\vdots', '⋱': '\\ddots', ℏ: '\\hbar', ℓ: '\\ell', ℜ: '\\Re', ℑ: '\\Im', ℵ: '\\aleph', ℝ: '\\mathbb{R}', ℕ: '\\mathbb{N}',
  ℤ: '\\mathbb{Z}', ℚ: '\\mathbb{Q}', ℂ: '\\mathbb{C}', '⊕': '\\oplus', '⊗': '\\otimes', '†': '\\dagger', '√': '\\surd',
  '∑': '\\sum', '∏': '\\prod', '∫': '\\int', '∮': '\\oint', '−': '-', '∣': '\\mid', '⟨': '\\langle', '⟩': '\\rangle',
  '{': '\\{', '}': '\\}', '%': '\\%', '#': '\\#', '&': '\\&', $: '\\$', '\\': '\\backslash', '~': '\\sim', '\u2061': '', '\u2062': '', '\u2063': ',',
};

const NARY: Record<string, string> = {
  '∑': '\\sum', '∏': '\\prod', '∐': '\\coprod', '∫': '\\int', '∬': '\\iint', '∭': '\\iiint', '∮': '\\oint', '∯': '\\oiint',
  '⋃': '\\bigcup', '⋂': '\\bigcap', '⋁': '\\bigvee', '⋀': '\\bigwedge', '⨁': '\\bigoplus', '⨂': '\\bigotimes',
};

const DELIMITERS: Record<string, string> = {
  '': '.', '{': '\\{', '}': '\\}', '⟨': '\\langle', '⟩': '\\rangle', '〈': '\\langle', '〉': '\\rangle', '⌊': '\\lfloor', '⌋': '\\rfloor',
  '⌈': '\\lceil', '⌉': '\\rceil', '‖': '\\|', '|': '|',
};

const ACCENTS: Record<string, string> = {
  '\u0302': '\\hat', '^': '\\hat', '\u0303': '\\tilde', '~': '\\tilde', '\u0304': '\\bar', '\u0305': '\\overline', '¯': '\\bar',
  '\u0307': '\\dot', '\u0308': '\\ddot', '\u20d7': '\\vec', '\u20d1': '\\vec', '→': '\\vec', '\u0301': '\\acute', '\u0300': '\\grave',
  '\u0306': '\\breve', '\u030c': '\\check',
};

const FUNCTIONS = new Set([
  'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'arcsin', 'arccos', 'arctan', 'sinh', 'cosh', 'tanh', 'coth', 'log', 'ln', 'lg', 'exp',
  'lim', 'max', 'min', 'sup', 'inf', 'det', 'gcd', 'deg', 'dim', 'ker', 'arg', 'Pr', 'hom',
]);

function symbol(char: string): string {
  const command = SYMBOLS[char];
  return command === undefined ? char : /^\\[a-zA-Z]+$/.test(command) ? `${command} ` : command;
}

function mathText(text: string): string {
  return [...text].map(symbol).join('');
}

/** `x` stays `x`; anything longer than one symbol gets braces so scripts bind to all of it. */
function group(latex: string): string {
  const trimmed = latex.trim();
  const delimited = /^\\left.*\\right\S+$/s.test(trimmed) && trimmed.split('\\left').length === 2;
  return delimited || /^([^\\{}\s]|\\[a-zA-Z]+)$/u.test(trimmed) ? trimmed : `{${trimmed}}`;
}

function property(node: XNode, propertiesName: string, name: string): string | undefined {
  return child(child(node, propertiesName), name)?.attrs['m:val'];
}

function part(node: XNode, name: string): string {
  return ommlChildren(child(node, name)).trim();
}

function functionName(latex: string): string {
  const trimmed = latex.trim();
  if (FUNCTIONS.has(trimmed)) return `\\${trimmed}`;
  if (/^[a-zA-Z]{2,}$/.test(trimmed)) return `\\operatorname{${trimmed}}`;
  return trimmed;
}

function ommlChildren(node: XNode | undefined): string {
  return (node?.children ?? []).map(ommlNode).join('');
}

function ommlNode(node: XNode): string {
  switch (node.name) {
    case 'm:t':
      return mathText(textContent(node));
    case 'm:r': {
      const text = textContent(child(node, 'm:t'));
      if (child(child(node, 'm:rPr'), 'm:nor')) return `\\text{${text.replace(/[{}\\]/g, '')}}`;
      return mathText(text);
    }
    case 'm:f': {
      const num = part(node, 'm:num');
      const den = part(node, 'm:den');
      const type = property(node, 'm:fPr', 'm:type');
      if (type === 'lin' || type === 'skw') return `${group(num)}/${group(den)}`;
      if (type === 'noBar') return `\\genfrac{}{}{0pt}{}{${num}}{${den}}`;
      return `\\frac{${num}}{${den}}`;
    }
    case 'm:sSup':
      return `${group(part(node, 'm:e'))}^{${part(node, 'm:sup')}}`;
    case 'm:sSub':
      return `${group(part(node, 'm:e'))}_{${part(node, 'm:sub')}}`;
    case 'm:sSubSup':
      return `${group(part(node, 'm:e'))}_{${part(node, 'm:sub')}}^{${part(node, 'm:sup')}}`;
    case 'm:sPre':
      return `{}_{${part(node, 'm:sub')}}^{${part(node, 'm:sup')}}${group(part(node, 'm:e'))}`;
    case 'm:rad': {
      const degree = part(node, 'm:deg');
      const hidden = ['1', 'on', 'true'].includes(property(node, 'm:radPr', 'm:degHide') ?? '');
      return hidden || !degree ? `\\sqrt{${part(node, 'm:e')}}` : `\\sqrt[${degree}]{${part(node, 'm:e')}}`;
    }
    case 'm:nary': {
      const char = property(node, 'm:naryPr', 'm:chr') ?? '∫';
      let latex = NARY[char] ?? mathText(char).trim();
      const sub = part(node, 'm:sub');
      const sup = part(node, 'm:sup');
      if (sub && property(node, 'm:naryPr', 'm:subHide') !== '1') latex += `_{${sub}}`;
      if (sup && property(node, 'm:naryPr', 'm:supHide') !== '1') latex += `^{${sup}}`;
      return `${latex} ${part(node, 'm:e')}`;
    }
    case 'm:d': {
      const open = property(node, 'm:dPr', 'm:begChr') ?? '(';
      const close = property(node, 'm:dPr', 'm:endChr') ?? ')';
      const separator = property(node, 'm:dPr', 'm:sepChr') ?? '|';
      const items = childrenNamed(node, 'm:e').map((e) => ommlChildren(e).trim());
      const sep = separator === ',' ? ', ' : ` ${DELIMITERS[separator] ?? mathText(separator).trim()} `;
      return `\\left${DELIMITERS[open] ?? open}${items.join(sep)}\\right${DELIMITERS[close] ?? close}`;
    }
    case 'm:m': {
      const rows = childrenNamed(node, 'm:mr').map((row) =>
        childrenNamed(row, 'm:e')
          .map((e) => ommlChildren(e).trim())
          .join(' & '),
      );
      return `\\begin{matrix}${rows.join(' \\\\ ')}\\end{matrix}`;
    }
    case 'm:eqArr':
      return `\\begin{aligned}${childrenNamed(node, 'm:e')
        .map((e) => ommlChildren(e).trim())
        .join(' \\\\ ')}\\end{aligned}`;
    case 'm:func':
      return `${functionName(part(node, 'm:fName'))} ${group(part(node, 'm:e'))}`;
    case 'm:limLow': {
      const base = part(node, 'm:e');
      const named = functionName(base);
      return named !== base.trim() ? `${named}_{${part(node, 'm:lim')}}` : `\\underset{${part(node, 'm:lim')}}{${base}}`;
    }
    case 'm:limUpp':
      return `\\overset{${part(node, 'm:lim')}}{${part(node, 'm:e')}}`;
    case 'm:acc': {
      const accent = ACCENTS[property(node, 'm:accPr', 'm:chr') ?? '\u0302'] ?? '\\hat';
      return `${accent}{${part(node, 'm:e')}}`;
    }
    case 'm:bar':
      return `${property(node, 'm:barPr', 'm:pos') === 'top' ? '\\overline' : '\\underline'}{${part(node, 'm:e')}}`;
    case 'm:groupChr': {
      const top = property(node, 'm:groupChrPr', 'm:pos') === 'top';
      return `${top ? '\\overbrace' : '\\underbrace'}{${part(node, 'm:e')}}`;
    }
    case 'm:borderBox':
      return `\\boxed{${part(node, 'm:e')}}`;
    case 'm:oMath':
      return ommlChildren(node);
    default:
      if (node.name.endsWith('Pr') || node.name === '#text') return '';
      return ommlChildren(node);
  }
}

/** LaTeX for an m:oMath or m:oMathPara element (the $ delimiters are the caller's). */
export function ommlToLatex(node: XNode): string {
  const equations = node.name === 'm:oMathPara' ? childrenNamed(node, 'm:oMath') : [node];
  return equations
    .map((equation) => ommlNode(equation).replace(/\s+/g, ' ').replace(/ ([}_^)\]]|\\right)/g, '$1').trim())
    .filter(Boolean)
    .join(' \\\\ ');
}
