/** The product token Fathom answers to in robots.txt groups. */
export const ROBOTS_TOKEN = 'fathom';

/** RFC 9309 asks crawlers to parse at least 500 KiB; anything after that is ignored. */
export const MAX_ROBOTS_BYTES = 512 * 1024;

export interface RobotsRule {
  allow: boolean;
  /** The path pattern as written, percent-encoding normalized; may hold `*` and a final `$`. */
  pattern: string;
}

export interface RobotsGroup {
  agents: string[];
  rules: RobotsRule[];
}

export interface Robots {
  groups: RobotsGroup[];
}

/** Everything allowed: what a missing or unreadable robots.txt means. */
export const ALLOW_ALL: Robots = { groups: [] };

/**
 * The groups of a robots.txt. A run of user-agent lines opens a group; allow and disallow lines
 * belong to the group above them; other lines (sitemap, crawl-delay, comments) are skipped.
 */
export function parseRobots(text: string): Robots {
  const groups: RobotsGroup[] = [];
  let current: RobotsGroup | undefined;
  let collectingAgents = false;
  for (const raw of text.slice(0, MAX_ROBOTS_BYTES).replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const field = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (field === 'user-agent') {
      if (!current || !collectingAgents) {
        current = { agents: [], rules: [] };
        groups.push(current);
      }
      current.agents.push(value.toLowerCase());
      collectingAgents = true;
    } else if (field === 'allow' || field === 'disallow') {
      collectingAgents = false;
      // An empty disallow allows everything: no rule at all.
      if (!current || value === '') continue;
      current.rules.push({ allow: field === 'allow', pattern: normalizePath(value) });
    }
  }
  return { groups };
}

/** Whether a user-agent line names our product token, e.g. `Fathom`, `fathom/1.0`. */
function agentMatches(agent: string, token: string): boolean {
  return agent.split('/')[0]!.trim() === token;
}

/** The rules that apply to `token`: its own groups merged, else the `*` groups, else none. */
export function rulesFor(robots: Robots, token = ROBOTS_TOKEN): RobotsRule[] {
  const name = token.toLowerCase();
  const own = robots.groups.filter((group) => group.agents.some((agent) => agentMatches(agent, name)));
  const chosen = own.length > 0 ? own : robots.groups.filter((group) => group.agents.includes('*'));
  return chosen.flatMap((group) => group.rules);
}

/**
 * Whether `path` (path and query of a URL) may be fetched: the longest matching pattern wins,
 * and allow wins a tie. /robots.txt itself is always allowed.
 */
export function isAllowed(robots: Robots, path: string, token = ROBOTS_TOKEN): boolean {
  const target = normalizePath(path || '/');
  if (target === '/robots.txt') return true;
  let best: RobotsRule | undefined;
  for (const rule of rulesFor(robots, token)) {
    if (!matches(rule.pattern, target)) continue;
    if (!best || rule.pattern.length > best.pattern.length || (rule.pattern.length === best.pattern.length && rule.allow)) {
      best = rule;
    }
  }
  return best?.allow ?? true;
}

/**
 * Whether `pattern` matches the start of `path` (RFC 9309): `*` matches any run of characters and
 * a final `$` ties the pattern to the end of the path. The literal pieces between the stars are
 * found left to right, each at its first place after the previous one: with stars alone that place
 * is never worse than a later one, so nothing is ever retried and no pattern can make this slow.
 */
export function matches(pattern: string, path: string): boolean {
  const anchored = pattern.endsWith('$');
  const pieces = (anchored ? pattern.slice(0, -1) : pattern).split('*');
  const first = pieces[0]!;
  if (!path.startsWith(first)) return false;
  if (pieces.length === 1) return !anchored || path.length === first.length;
  const last = pieces.at(-1)!;
  let at = first.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = path.indexOf(piece, at);
    if (found === -1) return false;
    at = found + piece.length;
  }
  return anchored ? path.length - last.length >= at && path.endsWith(last) : path.indexOf(last, at) !== -1;
}

/**
 * One spelling for paths and patterns: non-ASCII characters percent-encoded as UTF-8, escapes in
 * upper case, and escapes of unreserved characters decoded, so `/caf%c3%a9`, `/café` and
 * `/caf%C3%A9` compare equal.
 */
export function normalizePath(path: string): string {
  return path
    .replace(/[^\x21-\x7e]/gu, (char) => encodeURIComponent(char))
    .replace(/%([0-9a-fA-F]{2})/g, (_match, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${hex.toUpperCase()}`;
    });
}
