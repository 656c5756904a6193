import { lookup as dnsLookup, promises as dns } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { FathomError } from '../errors.js';
import { cidrMatcher, classifyAddress, describeAddressKind, isPublicAddress, parseIp } from './address.js';

export interface Refusal {
  host: string;
  address: string;
  viaDns: boolean;
}

/** Where a response came from: the URL of one hop and the address its connection went to ('' when unknown). */
export interface Peer {
  url: string;
  address: string;
}

export function blockedAddressError(target: string, refusal: Refusal, cause?: unknown): FathomError {
  const description = describeAddressKind(classifyAddress(refusal.address));
  const reason = refusal.viaDns
    ? `it resolves to ${refusal.address}, ${description}`
    : `${refusal.address} is ${description}`;
  return new FathomError('blocked_address', `Refused to fetch ${target}: ${reason}`, {
    hint:
      'Fathom only fetches public addresses. An operator can allow this with ' +
      `FATHOM_ALLOW_PRIVATE_NETWORK=true or FATHOM_EGRESS_ALLOW=${refusal.host}`,
    details: { ...refusal },
    cause,
  });
}

const normalizeHost = (host: string) => host.toLowerCase().replace(/\.$/, '');

/**
 * The SSRF guard. Literal IPs are checked by `checkUrl` before any connection; hostnames are
 * checked by `lookup`, which the HTTP agent uses to resolve them, so the connection goes to
 * exactly the addresses that were checked.
 */
export class AddressGuard {
  private readonly hostnames = new Set<string>();
  private readonly domainSuffixes: string[] = [];
  private readonly allowedIp: (ip: string) => boolean;

  constructor(
    private readonly allowPrivateNetwork: boolean,
    allowHosts: readonly string[],
  ) {
    const ranges: string[] = [];
    for (const raw of allowHosts.map((entry) => entry.trim()).filter(Boolean)) {
      if (raw.includes('/') || parseIp(raw)) ranges.push(raw);
      else if (raw.startsWith('*.')) this.domainSuffixes.push(normalizeHost(raw.slice(1)));
      else this.hostnames.add(normalizeHost(raw));
    }
    this.allowedIp = cidrMatcher(ranges);
  }

  allowsAddress(ip: string): boolean {
    return this.allowPrivateNetwork || isPublicAddress(ip) || this.allowedIp(ip);
  }

  allowsHostname(hostname: string): boolean {
    const host = normalizeHost(hostname);
    return this.hostnames.has(host) || this.domainSuffixes.some((suffix) => host.endsWith(suffix));
  }

  /** Throws unless `url` is http(s) and, when its host is an IP literal, that address may be fetched. */
  checkUrl(url: URL, display: string): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new FathomError('invalid_argument', `Refused to fetch ${display}: only http and https URLs are supported`, {
        hint: 'Give an http:// or https:// URL.',
      });
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (this.allowsHostname(host) || !isIP(host) || this.allowsAddress(host)) return;
    throw blockedAddressError(display, { host, address: host, viaDns: false });
  }

  /**
   * Like `checkUrl`, and a host name is resolved as a connection would resolve it: throws when the
   * policy refuses one of its addresses. A name that does not resolve here passes. Returns the
   * addresses checked (none for such a name).
   */
  async checkResolved(url: URL, display: string): Promise<string[]> {
    this.checkUrl(url, display);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host)) return [host];
    // Names under .localhost are loopback wherever they are resolved (RFC 6761), here or by the service.
    const fallback = host === 'localhost' || host.endsWith('.localhost') ? [{ address: '127.0.0.1' }] : [];
    const addresses = (await dns.lookup(host, { all: true }).catch(() => fallback)).map((entry) => entry.address);
    if (this.allowPrivateNetwork || this.allowsHostname(host)) return addresses;
    const refused = addresses.find((address) => !this.allowsAddress(address));
    if (refused) throw blockedAddressError(display, { host, address: refused, viaDns: true });
    return addresses;
  }

  /**
   * The first of `peers` (as stored with a cached response) this policy would not have let a
   * request reach. Anything that is not a list of peers counts as one unknown peer.
   */
  refusedPeer(peers: unknown): Peer | undefined {
    const list = Array.isArray(peers) && peers.length > 0 && peers.every(isPeer) ? peers : [{ url: '', address: '' }];
    return list.find((peer) => !this.allowsPeer(peer));
  }

  private allowsPeer(peer: Peer): boolean {
    if (this.allowPrivateNetwork) return true;
    const host = hostOf(peer.url);
    if (host !== undefined && this.allowsHostname(host)) return true;
    return parseIp(peer.address) !== undefined && this.allowsAddress(peer.address);
  }

  /** The error for a stored response from a peer this policy refuses: the one a live request meets. */
  peerError(peer: Peer): FathomError {
    const host = hostOf(peer.url);
    if (host === undefined || !parseIp(peer.address)) {
      return new FathomError('blocked_address', `Refused to use a stored copy of ${peer.url || 'a page'}: it was stored without the address it came from`, {
        hint: 'Fetch it again in normal cache mode, or record it again (FATHOM_CACHE_MODE=record).',
      });
    }
    return blockedAddressError(peer.url, { host, address: peer.address, viaDns: !isIP(host) });
  }

  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family, hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '');
      const refused = this.allowsHostname(hostname)
        ? undefined
        : addresses.find((entry) => !this.allowsAddress(entry.address));
      if (refused) return callback(blockedAddressError(hostname, { host: hostname, address: refused.address, viaDns: true }), '');
      const first: LookupAddress | undefined = addresses[0];
      if (options.all) callback(null, addresses);
      else if (first) callback(null, first.address, first.family);
      else callback(Object.assign(new Error(`No addresses for ${hostname}`), { code: 'ENOTFOUND' }), '');
    });
  };
}

function isPeer(value: unknown): value is Peer {
  const peer = value as Partial<Peer> | null;
  return typeof peer?.url === 'string' && typeof peer.address === 'string';
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}
