/**
 * The origin servers the ingest blaster, the idle beater and the pool senders play: one
 * loopback address and socket each, and the final heartbeat each sends so the bench can
 * check what was stored.
 */
import { createSocket, type Socket } from 'node:dgram';

/**
 * How many distinct sources {@link sourceAddress} can name: 127.0.0.2 … 127.255.255.254.
 * 127.255.255.255 is excluded: it is the broadcast address of lo, and the kernel sends a
 * datagram from a socket bound to it with source 127.0.0.1 (checked on Linux 6.x), so it
 * would not be a distinct origin. Octets of 0 and 255 inside the range (127.0.1.0,
 * 127.0.1.255, 127.1.0.0, …) bind and arrive with their own source address, so none is
 * skipped.
 */
export const MAX_SOURCES = 0xff_ff_fe - 1;

/**
 * Loopback address of source `i`: 127.0.0.2, 127.0.0.3, … 127.0.255.255, 127.1.0.0, …
 * (all of 127/8 is local on Linux). Sources 0 … 65,533 keep the 127.0.x.y addresses they
 * had before the pool bench needed more.
 * @throws RangeError outside 0 … MAX_SOURCES - 1
 */
export function sourceAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_SOURCES) throw new RangeError(`source ${i} is outside 0…${MAX_SOURCES - 1}`);
  // Skip 127.0.0.0 and 127.0.0.1 (the receiver's own address) so no source looks like the monitor.
  const n = i + 2;
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
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

/** Binds in flight at once: enough to hide the per-bind round trip through libuv, few enough to keep errors readable. */
const BIND_CONCURRENCY = 64;

/**
 * One UDP socket per source `first` … `first + count - 1`, bound to its loopback address
 * (port chosen by the OS), in source order.
 * @throws the first bind error, naming the address; sockets already bound are closed
 */
export async function bindSources(count: number, first = 0): Promise<Socket[]> {
  const bindOne = (i: number): Promise<Socket> => {
    const address = sourceAddress(i);
    const socket = createSocket('udp4');
    return new Promise<Socket>((resolve, reject) => {
      const failed = (error: Error): void => {
        socket.close();
        reject(new Error(`cannot bind source ${i} to ${address}: ${error.message}`, { cause: error }));
      };
      socket.once('error', failed);
      socket.bind({ address, port: 0 }, () => {
        socket.off('error', failed);
        resolve(socket);
      });
    });
  };
  const sockets: Socket[] = [];
  for (let done = 0; done < count; done += BIND_CONCURRENCY) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(BIND_CONCURRENCY, count - done) }, (_, k) => bindOne(first + done + k)));
    for (const result of batch) if (result.status === 'fulfilled') sockets.push(result.value);
    const failure = batch.find((result) => result.status === 'rejected');
    if (failure !== undefined) {
      for (const socket of sockets) socket.close();
      throw failure.reason;
    }
  }
  return sockets;
}
