import { describe, expect, it } from 'vitest';
import { isForbiddenAddress } from '../../src/outbound/addressPolicy.ts';

describe('isForbiddenAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback address'],
    ['127.255.255.254', 'loopback address'],
    ['10.1.2.3', 'private address'],
    ['172.31.255.255', 'private address'],
    ['192.168.0.1', 'private address'],
    ['100.127.255.255', 'carrier-grade NAT address'],
    ['169.254.1.1', 'link-local address'],
    ['169.254.169.254', 'cloud metadata address'],
    ['168.63.129.16', 'cloud metadata address'],
    ['0.0.0.0', 'unspecified address'],
    ['255.255.255.255', 'broadcast address'],
    ['239.1.2.3', 'multicast address'],
    ['198.19.255.255', 'benchmarking address'],
    ['192.0.2.10', 'documentation address'],
    ['250.1.1.1', 'reserved address'],
    ['::1', 'loopback address'],
    ['::', 'unspecified address'],
    ['::ffff:127.0.0.1', 'loopback address (IPv4-mapped)'],
    ['::ffff:7f00:1', 'loopback address (IPv4-mapped)'],
    ['0:0:0:0:0:ffff:a00:1', 'private address (IPv4-mapped)'],
    ['::7f00:1', 'loopback address (IPv4-compatible)'],
    ['::808:808', 'reserved address (IPv4-compatible)'],
    ['64:ff9b::a9fe:a9fe', 'cloud metadata address (NAT64)'],
    ['64:ff9b:1::1', 'private address'],
    ['2002:a00:1::1', 'private address (6to4)'],
    ['2001:0:4136:e378::1', 'reserved address'],
    ['2001:db8::1', 'documentation address'],
    ['fd00:ec2::254', 'cloud metadata address'],
    ['fd12:3456::1', 'private address'],
    ['fe80::1%eth0', 'link-local address'],
    ['ff02::1', 'multicast address'],
    ['4000::1', 'reserved address'],
    ['example.com', 'not an IP address'],
    ['127.1', 'not an IP address'],
  ])('refuses %s as %s', (ip, reason) => {
    expect(isForbiddenAddress(ip)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2606:4700:4700::1111', '[2a00:1450::1]'])(
    'allows public %s',
    (ip) => {
      expect(isForbiddenAddress(ip)).toBeNull();
    },
  );
});
