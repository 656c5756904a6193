import { FathomError } from '@fathom/core';

/**
 * Globs over `/`-separated relative paths: `*` and `?` (never across `/`), `**` (anything; before
 * a `/`, any folders or none), `{a,b}` (nestable) and `[abc]`, `[a-z]`, `[!abc]`. Any other
 * character stands for itself.
 *
 * A glob compiles to an automaton that reads each path once, left to right, so matching takes
 * time linear in the path whatever the glob: no pattern can make it backtrack.
 */
export type GlobMatcher = (path: string) => boolean;

export const MAX_GLOB_LENGTH = 1000;

type Node =
  | { kind: 'char'; test: (code: number) => boolean }
  | { kind: 'repeat'; test: (code: number) => boolean }
  | { kind: 'folders' }
  | { kind: 'alternatives'; options: Node[][] };

const SLASH = 0x2f;
const notSlash = (code: number) => code !== SLASH;
const anything = () => true;

function invalid(glob: string, reason: string): FathomError {
  return new FathomError('invalid_argument', `Invalid glob "${glob}": ${reason}`, {
    hint: 'Close every { and [, keep ranges in order (a-z), or use plain * and ? wildcards.',
  });
}

/** `[...]` without its brackets: `!` or `^` first negates; `x-y` is a range. */
function charClass(glob: string, body: string): (code: number) => boolean {
  const negated = body.startsWith('!') || body.startsWith('^');
  const chars = negated ? body.slice(1) : body;
  const ranges: [number, number][] = [];
  for (let i = 0; i < chars.length; i++) {
    const low = chars.charCodeAt(i);
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      const high = chars.charCodeAt(i + 2);
      if (high < low) throw invalid(glob, `the range ${chars.slice(i, i + 3)} is out of order`);
      ranges.push([low, high]);
      i += 2;
    } else ranges.push([low, low]);
  }
  return (code) => ranges.some(([low, high]) => code >= low && code <= high) !== negated;
}

function parse(glob: string): Node[] {
  const top: Node[] = [];
  // Open braces: each holds its finished options and the one being read.
  const open: { options: Node[][]; current: Node[] }[] = [];
  const target = () => open.at(-1)?.current ?? top;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        target().push(slash ? { kind: 'folders' } : { kind: 'repeat', test: anything });
        i += slash ? 2 : 1;
      } else target().push({ kind: 'repeat', test: notSlash });
    } else if (c === '?') target().push({ kind: 'char', test: notSlash });
    else if (c === '{') open.push({ options: [], current: [] });
    else if (c === '}' && open.length > 0) {
      const brace = open.pop()!;
      target().push({ kind: 'alternatives', options: [...brace.options, brace.current] });
    } else if (c === ',' && open.length > 0) {
      const brace = open.at(-1)!;
      brace.options.push(brace.current);
      brace.current = [];
    } else if (c === '[' && glob.indexOf(']', i + 1) !== -1) {
      const end = glob.indexOf(']', i + 1);
      target().push({ kind: 'char', test: charClass(glob, glob.slice(i + 1, end)) });
      i = end;
    } else {
      const code = glob.charCodeAt(i);
      target().push({ kind: 'char', test: (other) => other === code });
    }
  }
  if (open.length > 0) throw invalid(glob, `${open.length} { left open`);
  return top;
}

/** A state of the automaton: reads one character matching `test` and goes to `next`, or moves on without reading to each of `then`. */
type State = { test: (code: number) => boolean; next: number } | { then: number[] };

const ACCEPT = 0;

/** Builds the states right to left: every node is compiled knowing the state that follows it. */
function build(nodes: Node[]): { states: State[]; start: number } {
  const states: State[] = [{ then: [] }];
  const add = (state: State) => states.push(state) - 1;
  const loop = (test: (code: number) => boolean, next: number) => {
    const fork = add({ then: [] });
    (states[fork] as { then: number[] }).then.push(add({ test, next: fork }), next);
    return fork;
  };
  const sequence = (sequenceNodes: Node[], next: number): number =>
    sequenceNodes.reduceRight((after, node) => {
      switch (node.kind) {
        case 'char':
          return add({ test: node.test, next: after });
        case 'repeat':
          return loop(node.test, after);
        case 'folders':
          return add({ then: [loop(anything, add({ test: (code) => code === SLASH, next: after })), after] });
        case 'alternatives':
          return add({ then: node.options.map((option) => sequence(option, after)) });
      }
    }, next);
  return { states, start: sequence(nodes, ACCEPT) };
}

/** Sets of states met so far, kept so that a path costs one lookup per character once they are known. */
const MAX_CACHED_SETS = 4096;

interface StateSet {
  states: number[];
  accepts: boolean;
  next: Map<number, StateSet>;
}

export function compileGlob(glob: string): GlobMatcher {
  if (glob.length > MAX_GLOB_LENGTH) {
    throw new FathomError('invalid_argument', `The glob is ${glob.length} characters long; at most ${MAX_GLOB_LENGTH} are allowed`, {
      hint: 'Use a shorter glob, e.g. "*.pdf" or "reports/**/*.csv", or list a subfolder.',
    });
  }
  const { states, start } = build(parse(glob));
  const seen = new Uint32Array(states.length);
  let mark = 0;
  const cache = new Map<string, StateSet>();

  /** The states reachable from `from` without reading, as a known set. */
  const closure = (from: number[]): StateSet => {
    mark++;
    const found: number[] = [];
    const stack = [...from];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen[id] === mark) continue;
      seen[id] = mark;
      const state = states[id]!;
      if ('then' in state) stack.push(...state.then);
      if (!('then' in state) || id === ACCEPT) found.push(id);
    }
    found.sort((a, b) => a - b);
    const key = found.join(',');
    let set = cache.get(key);
    if (!set) {
      if (cache.size >= MAX_CACHED_SETS) {
        // Forget every known set and the links between them, so memory stays bounded.
        for (const old of cache.values()) old.next.clear();
        cache.clear();
      }
      set = { states: found, accepts: found[0] === ACCEPT, next: new Map() };
      cache.set(key, set);
    }
    return set;
  };

  const first = closure([start]);
  return (path) => {
    let current = first;
    for (let i = 0; i < path.length && current.states.length > 0; i++) {
      const code = path.charCodeAt(i);
      let next = current.next.get(code);
      if (!next) {
        const targets: number[] = [];
        for (const id of current.states) {
          const state = states[id]!;
          if (!('then' in state) && state.test(code)) targets.push(state.next);
        }
        next = closure(targets);
        current.next.set(code, next);
      }
      current = next;
    }
    return current.accepts;
  };
}
