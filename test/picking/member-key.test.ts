import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemberKeys, memberKey } from '../../src/picking/member-key.js';

describe('member → table key (one rule for every picker)', () => {
  it('matches by host under keyBy ip and by host and port under keyBy ip:port', () => {
    assert.equal(memberKey('http://10.0.0.1:8080', 'ip'), '10.0.0.1');
    assert.equal(memberKey('http://10.0.0.1:8080', 'ip:port'), '10.0.0.1:8080');
    assert.equal(memberKey('10.0.0.1:81', 'ip:port'), '10.0.0.1:81');
    assert.equal(memberKey({ host: '10.0.0.1', port: 82 }, 'ip:port'), '10.0.0.1:82');
    assert.equal(memberKey(new URL('http://[2001:db8::1]:8080/'), 'ip:port'), '[2001:db8::1]:8080');
    assert.equal(memberKey('http://[2001:db8::1]:8080', 'ip'), '2001:db8::1');
    assert.throws(() => memberKey('http://', 'ip'), TypeError);
  });

  it('the cached keys equal the uncached rule, for strings, URLs and objects, on first and later calls', () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
    const member = fc.tuple(ipv4, fc.integer({ min: 1, max: 65_535 }), fc.constantFrom('url', 'hostport', 'object', 'URL')).map(([host, port, shape]) => {
      if (shape === 'url') return `http://${host}:${port}`;
      if (shape === 'hostport') return `${host}:${port}`;
      if (shape === 'URL') return new URL(`http://${host}:${port}/`);
      return { host, port };
    });
    fc.assert(
      fc.property(fc.array(member, { maxLength: 20 }), fc.constantFrom('ip' as const, 'ip:port' as const), (members, keyBy) => {
        const keys = new MemberKeys(keyBy);
        for (let round = 0; round < 2; round++) for (const m of members) assert.equal(keys.keyOf(m), memberKey(m, keyBy));
      }),
    );
  });
});
