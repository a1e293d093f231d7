import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHost, parseMember, parseSocketAddress } from '../../src/index.js';

describe('parseSocketAddress (HeartbeatListen syntax)', () => {
  it('parses IPv4 multicast and unicast addresses', () => {
    assert.deepEqual(parseSocketAddress('239.0.0.1:27999'), { host: '239.0.0.1', port: 27999, family: 4, multicast: true });
    assert.deepEqual(parseSocketAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0, family: 4, multicast: false });
  });

  it('parses bracketed IPv6, with a zone', () => {
    assert.deepEqual(parseSocketAddress('[ff15::1]:27999'), { host: 'ff15::1', port: 27999, family: 6, multicast: true });
    assert.deepEqual(parseSocketAddress('[::1]:5000'), { host: '::1', port: 5000, family: 6, multicast: false });
    assert.deepEqual(parseSocketAddress('[FF02::1%lo]:1'), { host: 'FF02::1%lo', port: 1, family: 6, multicast: true });
  });

  it('detects multicast exactly on 224.0.0.0/4 and ff00::/8', () => {
    const multicast = (text: string): boolean => parseSocketAddress(text).multicast;
    assert.equal(multicast('224.0.0.0:1'), true);
    assert.equal(multicast('239.255.255.255:1'), true);
    assert.equal(multicast('223.255.255.255:1'), false);
    assert.equal(multicast('240.0.0.1:1'), false);
    assert.equal(multicast('[ff00::]:1'), true);
    assert.equal(multicast('[fe80::1]:1'), false);
  });

  const apacheErrors: [string, unknown, RegExp][] = [
    ['a host that is not an IP', 'not an address:1', /Unable to parse multicast address/],
    ['text without a port (Apache reads it as a host)', 'not an address', /No port provided in multicast address/],
    ['a host name (never resolved)', 'example.com:27999', /Unable to parse multicast address \(host must be an IP address\)/],
    ['an empty string', '', /No host provided in multicast address/],
    ['a missing host', ':27999', /No host provided in multicast address/],
    ['empty brackets', '[]:27999', /No host provided in multicast address/],
    ['a missing port', '239.0.0.1', /No port provided in multicast address/],
    ['an empty port', '239.0.0.1:', /No port provided in multicast address/],
    ['IPv6 without a port', '[ff15::1]', /No port provided in multicast address/],
    ['a port over 65535', '239.0.0.1:65536', /Unable to parse multicast address \(bad port\)/],
    ['a non-numeric port', '239.0.0.1:http', /Unable to parse multicast address \(bad port\)/],
    ['IPv6 without brackets', 'ff15::1:27999', /Unable to parse multicast address \(put IPv6 addresses in brackets\)/],
    ['an unclosed bracket', '[ff15::1:27999', /Unable to parse multicast address/],
    ['text after the bracket', '[ff15::1]x27999', /Unable to parse multicast address/],
    ['a non-string', 27999, /Unable to parse multicast address/],
  ];
  for (const [what, input, message] of apacheErrors) {
    it(`rejects ${what} with Apache's wording`, () => {
      assert.throws(() => parseSocketAddress(input), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, message);
        assert.match(error.message, /^Invalid `listen` /);
        return true;
      });
    });
  }

  it('names the option it parses in the message', () => {
    assert.throws(() => parseSocketAddress('nope', 'address'), { name: 'TypeError', message: /^Invalid `address` "nope"/ });
  });
});

describe('parseMember', () => {
  const cases: [string, Parameters<typeof parseMember>[0], { host: string; port: number }][] = [
    ['an http URL', 'http://10.0.0.1:8080', { host: '10.0.0.1', port: 8080 }],
    ['an http URL without port', 'http://10.0.0.1', { host: '10.0.0.1', port: 80 }],
    ['an https URL without port', 'https://10.0.0.1/', { host: '10.0.0.1', port: 443 }],
    ['a URL with a path', 'http://10.0.0.1:81/app?x=1', { host: '10.0.0.1', port: 81 }],
    ['an IPv6 URL', 'http://[2001:DB8::1]:8080', { host: '2001:db8::1', port: 8080 }],
    ['a URL object', new URL('http://10.0.0.2:9000'), { host: '10.0.0.2', port: 9000 }],
    ['host:port', '10.0.0.1:8080', { host: '10.0.0.1', port: 8080 }],
    ['a bare IPv4', '10.0.0.1', { host: '10.0.0.1', port: 80 }],
    ['[ipv6]:port', '[::1]:8080', { host: '::1', port: 8080 }],
    ['[ipv6] without port', '[::1]', { host: '::1', port: 80 }],
    ['a bare IPv6', '2001:db8:0:0:0:0:0:1', { host: '2001:db8::1', port: 80 }],
    ['an IPv4-mapped IPv6', '[::ffff:10.0.0.1]:80', { host: '10.0.0.1', port: 80 }],
    ['a host name (lower-cased)', 'Origin.Example:8080', { host: 'origin.example', port: 8080 }],
    ['an object', { host: '10.0.0.1', port: 8080 }, { host: '10.0.0.1', port: 8080 }],
    ['an object without port', { host: '10.0.0.1' }, { host: '10.0.0.1', port: 80 }],
    ['an object with bracketed IPv6', { host: '[::1]', port: 1 }, { host: '::1', port: 1 }],
  ];
  for (const [what, member, expected] of cases) {
    it(`parses ${what}`, () => {
      assert.deepEqual(parseMember(member), expected);
    });
  }

  const bad: [string, unknown][] = [
    ['an empty string', ''],
    ['a broken URL', 'http://'],
    ['a non-numeric port', '10.0.0.1:http'],
    ['a port over 65535', '10.0.0.1:70000'],
    ['a missing host', ':8080'],
    ['text after brackets', '[::1]8080'],
    ['an object with an empty host', { host: '' }],
    ['an object with a bad port', { host: '10.0.0.1', port: 70000 }],
    ['a number', 8080],
    ['null', null],
  ];
  for (const [what, member] of bad) {
    it(`rejects ${what} with a TypeError`, () => {
      assert.throws(() => parseMember(member as Parameters<typeof parseMember>[0]), { name: 'TypeError', message: /Invalid backend member/ });
    });
  }
});

describe('canonicalHost', () => {
  it('maps IPv4-mapped IPv6 to plain IPv4, dotted or hex, any case', () => {
    assert.equal(canonicalHost('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalHost('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalHost('[::ffff:10.0.0.1]'), '10.0.0.1');
    assert.equal(canonicalHost('::ffff:a00:1'), '10.0.0.1');
    assert.equal(canonicalHost('0:0:0:0:0:ffff:7f00:2'), '127.0.0.2');
  });

  it('compresses and lower-cases IPv6 and strips brackets', () => {
    assert.equal(canonicalHost('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonicalHost('[2001:db8::1]'), '2001:db8::1');
    assert.equal(canonicalHost('0:0:0:0:0:0:0:1'), '::1');
  });

  it('keeps the zone of a link-local IPv6 address verbatim', () => {
    assert.equal(canonicalHost('FE80:0:0:0:0:0:0:1%eth0'), 'fe80::1%eth0');
    assert.equal(canonicalHost('[fe80::1%lo]'), 'fe80::1%lo');
    assert.deepEqual(parseMember('[fe80::1%lo]:8080'), { host: 'fe80::1%lo', port: 8080 });
  });

  it('keeps IPv4 as is and lower-cases names', () => {
    assert.equal(canonicalHost('10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalHost('Origin.EXAMPLE'), 'origin.example');
  });
});
