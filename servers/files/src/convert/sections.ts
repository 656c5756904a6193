import type { ConvertedDocument, Section } from './types.js';

export interface Selection {
  /** 1-based section numbers, e.g. pages. */
  sections?: number[];
  /** A section by name, e.g. a sheet. */
  name?: string;
}

export function selectSections(document: ConvertedDocument, selection: Selection = {}): Section[] {
  let sections = document.sections;
  if (selection.sections?.length) {
    const wanted = new Set(selection.sections);
    sections = sections.filter((section) => wanted.has(section.index));
  }
  if (selection.name !== undefined) {
    const name = selection.name.toLowerCase();
    sections = sections.filter((section) => section.name.toLowerCase() === name);
  }
  return sections;
}

/** The markdown of a document, or of the chosen sections. */
export function renderMarkdown(document: ConvertedDocument, selection: Selection = {}): string {
  return selectSections(document, selection)
    .map((section) => section.markdown)
    .join('\n\n');
}
