import { describe, it, expect } from 'vitest';
import { cidrMatcher, classifyAddress, isPublicAddress, parseCidr } from '../src/net/index.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:169.254.169.254]', 'metadata'],
    ['::ffff:10.1.2.3', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:c0a8:0101::1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::808:808', 'public'],
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  it('rejects non-addresses', () => {
    expect(() => classifyAddress('example.com')).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(isPublicAddress('example.com')).toBe(false);
    expect(isPublicAddress('1.1.1.1')).toBe(true);
    expect(isPublicAddress('127.0.0.1')).toBe(false);
  });
});

describe('cidrMatcher', () => {
  it('matches v4 and v6 ranges, single addresses and mapped forms', () => {
    const allowed = cidrMatcher(['10.0.0.0/8', '192.168.1.5', 'fd00::/8', '::ffff:172.16.0.0/108']);
    expect(allowed('10.200.3.4')).toBe(true);
    expect(allowed('11.0.0.1')).toBe(false);
    expect(allowed('192.168.1.5')).toBe(true);
    expect(allowed('192.168.1.6')).toBe(false);
    expect(allowed('::ffff:10.0.0.1')).toBe(true);
    expect(allowed('fd00::1')).toBe(true);
    expect(allowed('fe00::1')).toBe(false);
    expect(allowed('172.31.0.1')).toBe(true);
    expect(allowed('not-an-ip')).toBe(false);
  });

  it('treats /0 as everything of that family', () => {
    const all4 = cidrMatcher(['0.0.0.0/0']);
    expect(all4('8.8.8.8')).toBe(true);
    expect(all4('::1')).toBe(false);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'example.com/8', '10.0.0.0/8/1', '10.0.0.0/x', ''])('refuses %j', (text) => {
    expect(() => parseCidr(text)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });
});
