/**
 * Guards for the interop suite: it must run inside the private network namespace that
 * scripts/test-interop.mjs creates (`npm run test:interop`), where loopback is the only
 * interface and every 127.x address is local, so no packet can leave the machine.
 */
import { networkInterfaces } from 'node:os';

/** Throws unless the process sits in a network namespace whose only interface is `lo`. */
export function assertPrivateNetwork(): void {
  const names = Object.keys(networkInterfaces());
  if (process.env.HEARTMONITOR_INTEROP_NETNS !== '1' || names.some((name) => name !== 'lo')) {
    throw new Error(
      `The interop suite sends multicast and binds 127.0.0.x addresses: run it with \`npm run test:interop\`, ` +
        `which starts it inside \`unshare -n\` (interfaces here: ${names.join(', ')})`,
    );
  }
}

/** The loopback address that plays origin server number `n` (1 → 127.0.0.2 …). */
export function originAddress(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new RangeError(`origin number out of range: ${n}`);
  return `127.0.0.${n + 1}`;
}
