import { describe, expect, it } from 'vitest';
import { ALLOW_ALL, isAllowed, matches, normalizePath, parseRobots, rulesFor } from '../src/robots.js';

const allowed = (text: string, path: string, token?: string) => isAllowed(parseRobots(text), path, token);

describe('parseRobots', () => {
  it('groups user-agent lines with the rules under them', () => {
    const robots = parseRobots('User-agent: a\nUser-agent: B\nDisallow: /x\n\nUser-agent: *\nAllow: /y\nDisallow: /\n');
    expect(robots.groups).toEqual([
      { agents: ['a', 'b'], rules: [{ allow: false, pattern: '/x' }] },
      { agents: ['*'], rules: [{ allow: true, pattern: '/y' }, { allow: false, pattern: '/' }] },
    ]);
  });

  it('skips comments, unknown fields, rules before any group, and empty disallows', () => {
    const robots = parseRobots('\uFEFFDisallow: /orphan\r\n# a comment\r\nUser-Agent: *  # trailing\r\nCrawl-delay: 10\r\nDISALLOW:\r\nSitemap: /s.xml\r\nnonsense line\r\n');
    expect(robots.groups).toEqual([{ agents: ['*'], rules: [] }]);
    expect(isAllowed(robots, '/anything')).toBe(true);
  });

  it('starts a new group when a user-agent line follows rules', () => {
    const robots = parseRobots('User-agent: a\nDisallow: /a\nUser-agent: b\nDisallow: /b\n');
    expect(robots.groups.map((group) => group.agents)).toEqual([['a'], ['b']]);
  });
});

describe('rulesFor', () => {
  const text = 'User-agent: *\nDisallow: /\n\nUser-agent: Fathom\nDisallow: /tmp/\n\nUser-agent: fathom/2.0\nDisallow: /drafts/\n';

  it('merges the groups naming our token and ignores the * group then', () => {
    expect(rulesFor(parseRobots(text)).map((rule) => rule.pattern)).toEqual(['/tmp/', '/drafts/']);
    expect(allowed(text, '/page')).toBe(true);
    expect(allowed(text, '/tmp/x')).toBe(false);
    expect(allowed(text, '/drafts/1')).toBe(false);
  });

  it('falls back to the * group for other agents', () => {
    expect(allowed(text, '/page', 'otherbot')).toBe(false);
  });

  it('allows everything without a matching group', () => {
    expect(allowed('User-agent: googlebot\nDisallow: /\n', '/page')).toBe(true);
    expect(isAllowed(ALLOW_ALL, '/page')).toBe(true);
    expect(allowed('', '/page')).toBe(true);
  });
});

describe('isAllowed', () => {
  const site = 'User-agent: *\nDisallow: /private/\nAllow: /private/ok.html\n';

  it('honours the longest matching rule', () => {
    expect(allowed(site, '/private/secret.html')).toBe(false);
    expect(allowed(site, '/private/ok.html')).toBe(true);
    expect(allowed(site, '/private')).toBe(true);
    expect(allowed(site, '/public/page')).toBe(true);
    expect(allowed('User-agent: *\nAllow: /p\nDisallow: /\n', '/page')).toBe(true);
    expect(allowed('User-agent: *\nAllow: /p\nDisallow: /\n', '/other')).toBe(false);
  });

  it('lets allow win a tie', () => {
    expect(allowed('User-agent: *\nDisallow: /page\nAllow: /page\n', '/page')).toBe(true);
  });

  it('matches * anywhere and $ at the end', () => {
    const text = 'User-agent: *\nDisallow: /*.pdf$\nDisallow: /*?sessionid=\nDisallow: /exact$\n';
    expect(allowed(text, '/docs/report.pdf')).toBe(false);
    expect(allowed(text, '/docs/report.pdf?download=1')).toBe(true);
    expect(allowed(text, '/shop?sessionid=42')).toBe(false);
    expect(allowed(text, '/shop?page=2')).toBe(true);
    expect(allowed(text, '/exact')).toBe(false);
    expect(allowed(text, '/exactly')).toBe(true);
    expect(allowed('User-agent: *\nDisallow: /\nAllow: /$\n', '/')).toBe(true);
    expect(allowed('User-agent: *\nDisallow: /\nAllow: /$\n', '/page')).toBe(false);
  });

  it('treats regular-expression characters in patterns literally', () => {
    expect(matches('/a.b*', '/axb')).toBe(false);
    expect(matches('/a.b*', '/a.bc')).toBe(true);
    expect(matches('/(x)+*', '/(x)+y')).toBe(true);
  });

  it('compares paths and patterns in one percent-encoding', () => {
    const text = 'User-agent: *\nDisallow: /café\nDisallow: /%7Euser/\n';
    expect(allowed(text, '/caf%C3%A9/menu')).toBe(false);
    expect(allowed(text, '/caf%c3%a9')).toBe(false);
    expect(allowed(text, '/~user/home')).toBe(false);
    expect(normalizePath('/a b/%2f/%41')).toBe('/a%20b/%2F/A');
  });

  it('always allows /robots.txt', () => {
    expect(allowed('User-agent: *\nDisallow: /\n', '/robots.txt')).toBe(true);
  });
});
