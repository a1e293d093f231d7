/**
 * Which interface the kernel joins a multicast group on when the caller names none: the
 * interface of the route to the group (on Linux, read from /proc/net/route), so the
 * warning can say where heartbeats are being listened for.
 * @module
 */
import { readFileSync } from 'node:fs';
import { endianness, networkInterfaces } from 'node:os';

/** A route of /proc/net/route: destination and mask as numbers (host order), and the interface. */
interface Route {
  readonly iface: string;
  readonly destination: number;
  readonly mask: number;
}

/**
 * The interface an IPv4 group is joined on without an explicit interface, as
 * `name (address)`; undefined when it cannot be told (not Linux, IPv6, no route).
 *
 * @param group - the IPv4 multicast group
 * @param routeTable - the text of /proc/net/route (read when omitted)
 */
export function defaultMulticastInterface(group: string, routeTable?: string): string | undefined {
  const target = ipv4Number(group);
  if (target === undefined) return undefined;
  let table = routeTable;
  if (table === undefined) {
    try {
      table = readFileSync('/proc/net/route', 'latin1');
    } catch {
      return undefined;
    }
  }
  let best: Route | undefined;
  for (const route of parseRoutes(table)) {
    if ((target & route.mask) >>> 0 !== route.destination) continue;
    if (best === undefined || popCount(route.mask) > popCount(best.mask)) best = route;
  }
  if (best === undefined) return undefined;
  const address = networkInterfaces()[best.iface]?.find((info) => info.family === 'IPv4')?.address;
  return address === undefined ? best.iface : `${best.iface} (${address})`;
}

function parseRoutes(table: string): Route[] {
  const routes: Route[] = [];
  for (const line of table.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface === undefined || destination === undefined || mask === undefined) continue;
    const dest = littleEndianHex(destination);
    const bits = littleEndianHex(mask);
    if (dest !== undefined && bits !== undefined && /^[\w.:-]{1,32}$/.test(iface)) routes.push({ iface, destination: dest, mask: bits });
  }
  return routes;
}

/** /proc/net/route writes addresses as the bytes in memory (little-endian on x86 and arm). */
function littleEndianHex(hex: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const value = Number.parseInt(hex, 16);
  if (endianness() === 'BE') return value >>> 0;
  return (((value & 0xff) << 24) | (((value >>> 8) & 0xff) << 16) | (((value >>> 16) & 0xff) << 8) | ((value >>> 24) & 0xff)) >>> 0;
}

function ipv4Number(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) return undefined;
  return parts.reduce((value, part) => ((value << 8) | part) >>> 0, 0);
}

function popCount(mask: number): number {
  let count = 0;
  for (let bits = mask; bits !== 0; bits = (bits & (bits - 1)) >>> 0) count++;
  return count;
}

/** The warning text for a group joined without an `interface`. */
export function defaultInterfaceMessage(group: string, routeTable?: string): string {
  const used = defaultMulticastInterface(group, routeTable);
  const where = used === undefined ? 'the interface the system routes multicast through' : `${used}, the interface of the route to ${group}`;
  return `Joined multicast group ${group} on the default interface (${where}) because no \`interface\` was passed. Heartbeats arriving on another interface are not received; pass interface: '<local address>' (127.0.0.1 for loopback tests) to choose.`;
}
