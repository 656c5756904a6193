export { HttpClient, DEFAULT_USER_AGENT } from './client.js';
export { HostLimiter, sleep } from './limiter.js';
export type { NetOptions, RequestOptions, HttpResponse } from './client.js';
export { isPublicAddress, classifyAddress, cidrMatcher, parseCidr, parseIp } from './address.js';
export type { AddressKind, Cidr, ParsedIp } from './address.js';
export { AddressGuard, blockedAddressError } from './guard.js';
export type { Peer } from './guard.js';
