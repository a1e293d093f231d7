/** Deterministic generators of hostile heartbeat traffic for the stress tests. */

/** Kinds of datagram the generator mixes. */
export type HostileKind = 'valid' | 'near-valid' | 'random' | 'empty' | 'oversized';

const MUTATIONS: readonly ((text: string, r: () => number) => string)[] = [
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + t.slice(i + 1);
  },
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + String.fromCharCode(Math.floor(r() * 256)) + t.slice(i);
  },
  (t) => t.replace('busy', 'BUSY'),
  (t) => t.replace(/ready=\d+/, 'ready=-1'),
  (t) => t.replace(/busy=\d+/, 'busy=4294967296'),
  (t) => t.replace(/ready=(\d+)/, 'ready=$1x'),
  (t) => `${t}&ready=00000000000042`,
  (t) => `${t}&&&port=0`,
  (t) => `${t}&port=65535`,
  (t) => t.replace('v=1&', ''),
  (t) => t.replace('=', '%3D'),
  (t) => t.replace('r', '%72'),
  (t) => `${t}\u0000`,
  (t) => `${t}&x=${'y'.repeat(990)}`,
];

/**
 * One datagram of the given mix: 30 % valid, 30 % near-valid, 25 % random bytes, 5 %
 * empty, 10 % oversized (over 1000 bytes).
 */
export function hostileDatagram(r: () => number): { kind: HostileKind; bytes: Buffer } {
  const roll = r();
  const valid = `v=1&ready=${Math.floor(r() * 200)}&busy=${Math.floor(r() * 50)}${r() < 0.3 ? `&port=${1 + Math.floor(r() * 65535)}` : ''}`;
  if (roll < 0.3) return { kind: 'valid', bytes: Buffer.from(valid) };
  if (roll < 0.6) {
    const mutate = MUTATIONS[Math.floor(r() * MUTATIONS.length)] ?? ((t: string) => t);
    return { kind: 'near-valid', bytes: Buffer.from(mutate(valid, r), 'latin1') };
  }
  if (roll < 0.85) {
    const bytes = Buffer.allocUnsafe(Math.floor(r() * 1500));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    return { kind: 'random', bytes };
  }
  if (roll < 0.9) return { kind: 'empty', bytes: Buffer.alloc(0) };
  const size = r() < 0.02 ? 60_000 : 1001 + Math.floor(r() * 3000);
  return { kind: 'oversized', bytes: Buffer.concat([Buffer.from(valid), Buffer.alloc(size - valid.length, 0x61)]) };
}
