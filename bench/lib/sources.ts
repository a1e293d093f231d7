/**
 * The origin servers the ingest blaster and the idle beater play: one loopback address and
 * socket each, and the final heartbeat each sends so the bench can check what was stored.
 */
import { createSocket, type Socket } from 'node:dgram';

/** Loopback address of source `i`: 127.0.0.2, 127.0.0.3, … (all of 127/8 is local on Linux). */
export function sourceAddress(i: number): string {
  const n = i + 2;
  return `127.0.${n >> 8}.${n & 255}`;
}

/** Counts of the last heartbeat of source `i`. */
export function finalCounts(i: number): { ready: number; busy: number } {
  return { ready: 100 + i, busy: 1 + (i % 7) };
}

/** The last heartbeat source `i` sends. */
export function finalHeartbeat(i: number): Buffer {
  const { ready, busy } = finalCounts(i);
  return Buffer.from(`v=1&ready=${ready}&busy=${busy}`);
}

/** One UDP socket per source, bound to its loopback address (port chosen by the OS). */
export async function bindSources(count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: sourceAddress(i), port: 0 }, () => resolve());
    });
    sockets.push(socket);
  }
  return sockets;
}
