import { isIP } from 'node:net';
import { FathomError } from '../errors.js';

export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export interface ParsedIp {
  version: 4 | 6;
  value: bigint;
}

export interface Cidr extends ParsedIp {
  bits: number;
}

const width = (version: 4 | 6) => (version === 4 ? 32 : 128);

/** Parses an IPv4 or IPv6 literal (brackets and zone id allowed); IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): ParsedIp | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 4) return { version: 4, value: v4Value(bare) };
  if (version !== 6) return undefined;
  const value = v6Value(bare);
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

function v4Value(dotted: string): bigint {
  return dotted.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
}

function v6Value(text: string): bigint {
  const withoutDotted = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_match, a, b, c, d) => {
    const [hi, lo] = [Number(a) * 256 + Number(b), Number(c) * 256 + Number(d)];
    return `${hi.toString(16)}:${lo.toString(16)}`;
  });
  const [left = '', right] = withoutDotted.split('::');
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(`0x${group}`), 0n);
}

/** Parses `10.0.0.0/8`, `fc00::/7`, or a bare address (a single-address range). */
export function parseCidr(text: string): Cidr {
  const invalid = () =>
    new FathomError('invalid_argument', `Not an IP address or CIDR range: ${JSON.stringify(text)}`, {
      hint: 'Use forms such as 10.0.0.0/8, 192.168.1.5 or fd00::/8.',
    });
  const [address = '', prefix, ...rest] = text.trim().split('/');
  const ip = parseIp(address);
  if (!ip || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw invalid();
  const mappedOffset = ip.version === 4 && isIP(address) === 6 ? 96 : 0;
  const bits = prefix === undefined ? width(ip.version) : Number(prefix) - mappedOffset;
  if (bits < 0 || bits > width(ip.version)) throw invalid();
  return { ...ip, bits };
}

export function inCidr(ip: ParsedIp, cidr: Cidr): boolean {
  if (ip.version !== cidr.version) return false;
  const shift = BigInt(width(ip.version) - cidr.bits);
  return ip.value >> shift === cidr.value >> shift;
}

/** A matcher for a list of CIDR ranges or addresses; throws 'invalid_argument' on a bad entry. */
export function cidrMatcher(ranges: readonly string[]): (ip: string) => boolean {
  const parsed = ranges.map(parseCidr);
  return (ip) => {
    const address = parseIp(ip);
    return address !== undefined && parsed.some((cidr) => inCidr(address, cidr));
  };
}

const rules = (list: Array<[string, AddressKind]>) => list.map(([cidr, kind]) => ({ cidr: parseCidr(cidr), kind }));

const V4_RULES = rules([
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.169.254/32', 'metadata'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6_RULES = rules([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'metadata'],
  ['64:ff9b:1::/48', 'private'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
  ['100::/64', 'reserved'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'reserved'],
]);

const NAT64 = parseCidr('64:ff9b::/96');
const SIX_TO_FOUR = parseCidr('2002::/16');
const GLOBAL_UNICAST = parseCidr('2000::/3');

/** What kind of address `ip` is; throws 'invalid_argument' when it is not an IP literal. */
export function classifyAddress(ip: string): AddressKind {
  const parsed = parseIp(ip);
  if (!parsed) throw new FathomError('invalid_argument', `Not an IP address: ${JSON.stringify(ip)}`);
  return classify(parsed);
}

function classify(ip: ParsedIp): AddressKind {
  const match = (ip.version === 4 ? V4_RULES : V6_RULES).find((rule) => inCidr(ip, rule.cidr));
  if (match) return match.kind;
  if (ip.version === 4) return 'public';
  // Addresses that carry an IPv4 address inside are as public as that address.
  if (inCidr(ip, NAT64)) return classify({ version: 4, value: ip.value & 0xffffffffn });
  if (inCidr(ip, SIX_TO_FOUR)) return classify({ version: 4, value: (ip.value >> 80n) & 0xffffffffn });
  return inCidr(ip, GLOBAL_UNICAST) ? 'public' : 'reserved';
}

/** True only for a globally routable unicast address; false for anything else, including non-IPs. */
export function isPublicAddress(ip: string): boolean {
  const parsed = parseIp(ip);
  return parsed !== undefined && classify(parsed) === 'public';
}

const DESCRIPTIONS: Record<Exclude<AddressKind, 'public'>, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address',
  metadata: 'a cloud metadata address',
  cgnat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
};

export function describeAddressKind(kind: AddressKind): string {
  return kind === 'public' ? 'a public address' : DESCRIPTIONS[kind];
}
