// The rule check the API and the agents share: prefixes (IPv4-mapped bits, host bits, width), protected addresses,
// ports, TTL and reason; a flood alert's proposal; the hosts of broker endpoints.
import { formatAddress } from '@tma/sketch';
import { checkRule, parsePrefix, prefixContains, proposalFromAlert, protectedHosts, RuleError } from './mitigation';

const rule = { srcPrefix: '203.0.113.0/24', ttlSeconds: 600, reason: 'flood' };
const field = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof RuleError) return e.field;
    throw e;
  }
  return null;
};

describe('block rules', () => {
  it('parses prefixes into the 128-bit IPv4-mapped form and refuses host bits and wide prefixes', () => {
    const p = parsePrefix('203.0.113.0/24');
    expect([p.text, p.bits, p.v4, formatAddress(p.addr)]).toEqual(['203.0.113.0/24', 120, true, '203.0.113.0']);
    expect(parsePrefix('2001:DB8::/32')).toMatchObject({ text: '2001:db8::/32', bits: 32, v4: false });
    expect(parsePrefix('198.51.100.7').text).toBe('198.51.100.7/32');
    expect(() => parsePrefix('203.0.113.1/24')).toThrow(/host bits set; the prefix is 203\.0\.113\.0\/24/);
    expect(() => parsePrefix('10.0.0.0/7')).toThrow(/too wide/);
    expect(() => parsePrefix('2000::/8')).toThrow(/too wide/);
    expect(() => parsePrefix('1.2.3.4/33')).toThrow(RuleError);
    expect(() => parsePrefix('nope')).toThrow(RuleError);
    expect(prefixContains(p, parsePrefix('203.0.113.77').addr)).toBe(true);
    expect(prefixContains(p, parsePrefix('203.0.114.1').addr)).toBe(false);
  });

  it('checks every field and refuses a prefix that holds a protected address', () => {
    expect(checkRule({ ...rule, dst: '198.51.100.7', port: 80, protocol: 'udp', hosts: ['b', 'a', 'a'] })).toEqual({
      srcPrefix: '203.0.113.0/24',
      dst: '198.51.100.7',
      port: 80,
      protocol: 'udp',
      ttlSeconds: 600,
      reason: 'flood',
      dryRun: false,
      hosts: ['a', 'b'],
    });
    expect(field(() => checkRule({ ...rule, port: 80 }))).toBe('port'); // a port needs tcp or udp
    expect(field(() => checkRule({ ...rule, protocol: 'gre' as never }))).toBe('protocol');
    expect(field(() => checkRule({ ...rule, ttlSeconds: 5 }))).toBe('ttlSeconds');
    expect(field(() => checkRule({ ...rule, reason: '  ' }))).toBe('reason');
    expect(field(() => checkRule({ ...rule, dst: '2001:db8::1' }))).toBe('dst');
    expect(field(() => checkRule({ ...rule, hosts: ['bad host'] }))).toBe('hosts');
    expect(() => checkRule(rule, ['203.0.113.9'])).toThrow(/holds 203\.0\.113\.9/);
    expect(checkRule(rule, ['203.0.114.9', 'broker.example']).srcPrefix).toBe('203.0.113.0/24');
    // IPv6 notation over the IPv4-mapped range is held to the IPv4 width
    expect(() => checkRule({ ...rule, srcPrefix: '::ffff:0:0/96' })).toThrow(/IPv4-mapped/);
    expect(() => checkRule({ ...rule, srcPrefix: '::/16' })).toThrow(/IPv4-mapped/);
    expect(checkRule({ ...rule, srcPrefix: '::ffff:203.0.113.0/120' }).srcPrefix).toBe('203.0.113.0/24');
  });

  it('takes the hosts of host:port lists (IPv6 in brackets)', () => {
    expect(protectedHosts(['127.0.0.1:9092', '[::1]:9092', 'kafka-1:9093', ' '])).toEqual([
      '127.0.0.1',
      '::1',
      'kafka-1',
    ]);
  });

  it('a flood alert proposes its sources /24 (or its one source) and its destination; other kinds nothing', () => {
    const flood = {
      id: 'a1',
      kind: 'flood',
      subject: '198.51.100.7',
      hosts: ['h1'],
      related: [
        '203.0.113.1:4001 → 198.51.100.7:80/17',
        '203.0.113.2:4002 → 198.51.100.7:80/17',
        '192.0.2.9:1 → 198.51.100.7:80/17',
      ],
    };
    expect(proposalFromAlert(flood)).toMatchObject({ srcPrefix: '203.0.113.0/24', dst: '198.51.100.7', hosts: ['h1'] });
    expect(checkRule(proposalFromAlert(flood)!).srcPrefix).toBe('203.0.113.0/24');
    expect(proposalFromAlert({ ...flood, related: ['2001:db8::5:53 → 198.51.100.7:80/17'] })?.srcPrefix).toBe(
      '2001:db8::5/128',
    );
    expect(proposalFromAlert({ ...flood, kind: 'port-scan' })).toBeNull();
    expect(proposalFromAlert({ ...flood, related: [] })).toBeNull();
  });
});
