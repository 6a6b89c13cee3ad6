import { isIP } from 'node:net';

/**
 * Which IP addresses Herald must never connect to on a caller's behalf. One table, used both when
 * a URL with a literal address is saved and when a host name resolves at connect time.
 */

type Rule = { bytes: number[]; prefixLength: number; reason: string };

function v4Rule(cidr: string, reason: string): Rule {
  const [address = '', length = '32'] = cidr.split('/');
  return { bytes: address.split('.').map(Number), prefixLength: Number(length), reason };
}

function v6Rule(cidr: string, reason: string): Rule {
  const [address = '', length = '128'] = cidr.split('/');
  const bytes = parseIPv6(address);
  if (!bytes) throw new Error(`bad IPv6 rule ${cidr}`);
  return { bytes, prefixLength: Number(length), reason };
}

// Most specific first: the first match names the reason. Sources: IANA IPv4/IPv6 special-purpose
// address registries, plus the cloud metadata endpoints that sit inside otherwise-public ranges.
const IPV4_RULES: Rule[] = [
  v4Rule('169.254.169.254/32', 'cloud metadata address'), // AWS, GCP, Azure, OpenStack IMDS
  v4Rule('168.63.129.16/32', 'cloud metadata address'), // Azure WireServer: public-looking, host-internal
  v4Rule('100.100.100.200/32', 'cloud metadata address'), // Alibaba Cloud
  v4Rule('255.255.255.255/32', 'broadcast address'),
  v4Rule('0.0.0.0/8', 'unspecified address'),
  v4Rule('127.0.0.0/8', 'loopback address'),
  v4Rule('10.0.0.0/8', 'private address'),
  v4Rule('172.16.0.0/12', 'private address'),
  v4Rule('192.168.0.0/16', 'private address'),
  v4Rule('100.64.0.0/10', 'carrier-grade NAT address'),
  v4Rule('169.254.0.0/16', 'link-local address'),
  v4Rule('192.0.0.0/24', 'reserved address'), // IETF protocol assignments
  v4Rule('192.0.2.0/24', 'documentation address'),
  v4Rule('198.51.100.0/24', 'documentation address'),
  v4Rule('203.0.113.0/24', 'documentation address'),
  v4Rule('192.88.99.0/24', 'reserved address'), // deprecated 6to4 relay anycast
  v4Rule('198.18.0.0/15', 'benchmarking address'),
  v4Rule('224.0.0.0/4', 'multicast address'),
  v4Rule('240.0.0.0/4', 'reserved address'),
];

const IPV6_RULES: Rule[] = [
  v6Rule('fd00:ec2::254/128', 'cloud metadata address'), // AWS IMDS over IPv6
  v6Rule('::/128', 'unspecified address'),
  v6Rule('::1/128', 'loopback address'),
  v6Rule('64:ff9b:1::/48', 'private address'), // local-use NAT64 (RFC 8215)
  v6Rule('100::/64', 'reserved address'), // discard-only
  v6Rule('2001:2::/48', 'benchmarking address'),
  v6Rule('2001::/32', 'reserved address'), // Teredo: the tunnelled client address is obfuscated
  v6Rule('2001::/23', 'reserved address'), // IETF protocol assignments
  v6Rule('2001:db8::/32', 'documentation address'),
  v6Rule('3fff::/20', 'documentation address'),
  v6Rule('5f00::/16', 'reserved address'), // SRv6 segment identifiers
  v6Rule('fc00::/7', 'private address'), // unique local
  v6Rule('fe80::/10', 'link-local address'),
  v6Rule('fec0::/10', 'private address'), // deprecated site-local
  v6Rule('ff00::/8', 'multicast address'),
];

// IPv6 forms that carry an IPv4 address inside: the IPv4 address decides, or ::ffff:127.0.0.1
// and 64:ff9b::a00:1 would slip through as "global".
// IPv4-compatible addresses are deprecated and route nowhere useful, so even a public one is refused.
const EMBEDDED_IPV4: Array<{ rule: Rule; offset: number; refuseAlways?: boolean }> = [
  { rule: v6Rule('::ffff:0:0/96', 'IPv4-mapped'), offset: 12 },
  { rule: v6Rule('::/96', 'IPv4-compatible'), offset: 12, refuseAlways: true },
  { rule: v6Rule('64:ff9b::/96', 'NAT64'), offset: 12 },
  { rule: v6Rule('2002::/16', '6to4'), offset: 2 },
];

const GLOBAL_UNICAST_V6 = v6Rule('2000::/3', 'global unicast');

function matches(bytes: readonly number[], rule: Rule): boolean {
  let bitsLeft = rule.prefixLength;
  for (let i = 0; bitsLeft > 0; i++, bitsLeft -= 8) {
    const mask = bitsLeft >= 8 ? 0xff : (0xff << (8 - bitsLeft)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((rule.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** 16 bytes for a valid IPv6 address (zone id ignored), else null. Accepts a dotted IPv4 tail. */
function parseIPv6(text: string): number[] | null {
  const address = text.replace(/%.*$/, '');
  if (isIP(address) !== 6) return null;
  let groups = address;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (tail?.[1]) {
    const [a = 0, b = 0, c = 0, d = 0] = tail[1].split('.').map(Number);
    groups = `${address.slice(0, -tail[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = groups.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const all = [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups];
  if (all.length !== 8) return null;
  return all.flatMap((group) => {
    const value = parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function classifyIPv4(bytes: readonly number[]): string | null {
  return IPV4_RULES.find((rule) => matches(bytes, rule))?.reason ?? null;
}

/**
 * Why Herald must not connect to `ip`, or null when it is an ordinary public address.
 * Anything that does not parse as an IP address is refused: callers only pass resolved or
 * literal addresses, so a surprise here means something is off.
 */
export function isForbiddenAddress(ip: string): string | null {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return classifyIPv4(bare.split('.').map(Number));
  const bytes = parseIPv6(bare);
  if (!bytes) return 'not an IP address';
  const explicit = IPV6_RULES.find((rule) => matches(bytes, rule));
  if (explicit) return explicit.reason;
  for (const { rule, offset, refuseAlways } of EMBEDDED_IPV4) {
    if (!matches(bytes, rule)) continue;
    const reason = classifyIPv4(bytes.slice(offset, offset + 4)) ?? (refuseAlways ? 'reserved address' : null);
    return reason ? `${reason} (${rule.reason})` : null;
  }
  // Everything outside 2000::/3 is unallocated or special-purpose; nothing legitimate lives there.
  return matches(bytes, GLOBAL_UNICAST_V6) ? null : 'reserved address';
}
