/**
 * The UDP side of the monitor: bind (a multicast group with SO_REUSEADDR, like
 * mod_heartmonitor; a unicast address exclusively), join the multicast group on the chosen
 * interface, and leave and close cleanly.
 * @module
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { SocketAddress } from '../protocol/address.js';
import { ListenError } from '../errors.js';

/** What {@link openHeartbeatSocket} needs. */
export interface HeartbeatSocketOptions {
  /** Parsed `listen` address. */
  readonly address: SocketAddress;
  /** The address as the user wrote it, for error messages. */
  readonly text: string;
  /** Interface for the multicast membership. */
  readonly interface?: string | undefined;
  /** Requested receive buffer size in bytes (0 keeps the OS default). */
  readonly recvBufferSize: number;
  /** Called for every datagram. */
  readonly onMessage: (message: Buffer, from: RemoteInfo) => void;
  /** Called for socket errors after the socket is bound. */
  readonly onError: (error: Error) => void;
}

/** A bound heartbeat socket. */
export interface HeartbeatSocket {
  /** The bound address (useful with port 0). */
  address(): AddressInfo;
  /** Leave the group and close; resolves once closed. */
  close(): Promise<void>;
}

/**
 * Bind and join. Rejects with a {@link ListenError} naming the address and the cause
 * (EADDRINUSE, EADDRNOTAVAIL, a failed join…); the socket is closed on failure.
 */
export async function openHeartbeatSocket(options: HeartbeatSocketOptions): Promise<HeartbeatSocket> {
  const { address } = options;
  // Only a group needs address reuse (several listeners of one group on a host). On a unicast
  // address it would let any later socket with reuseAddr, another user's included, bind the
  // same address and take the heartbeats: there, a taken address must fail with EADDRINUSE.
  const socket = createSocket({ type: address.family === 6 ? 'udp6' : 'udp4', reuseAddr: address.multicast });
  try {
    await bind(socket, address);
  } catch (cause) {
    await closeQuietly(socket);
    throw new ListenError(options.text, cause);
  }
  const membershipInterface = address.multicast ? interfaceFor(address, options.interface) : undefined;
  if (address.multicast) {
    try {
      socket.addMembership(address.host, membershipInterface);
    } catch (cause) {
      await closeQuietly(socket);
      throw new ListenError(options.text, cause, `join multicast group ${address.host}${options.interface === undefined ? '' : ` on interface ${options.interface}`} for`);
    }
  }
  if (options.recvBufferSize > 0) {
    // Best effort: the kernel caps the size (rmem_max); failing here must not stop listening.
    try {
      socket.setRecvBufferSize(options.recvBufferSize);
    } catch {
      /* keep the OS default */
    }
  }
  // A permanent listener: an 'error' without one would throw out of the event loop.
  socket.on('error', options.onError);
  socket.on('message', options.onMessage);
  let closed: Promise<void> | undefined;
  return {
    address: () => socket.address(),
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        if (address.multicast) {
          try {
            socket.dropMembership(address.host, membershipInterface);
          } catch {
            /* closing the socket drops the membership anyway */
          }
        }
        socket.close(() => resolve());
      })),
  };
}

function bind(socket: Socket, address: SocketAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    socket.once('error', onError);
    // Binding to the group address itself filters out other groups on the same port.
    socket.bind({ address: address.host, port: address.port, exclusive: false }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/**
 * IPv6 memberships take an interface by scope: accept a bare name (`lo`) as `::%lo`.
 * @internal
 */
export function interfaceFor(address: SocketAddress, iface: string | undefined): string | undefined {
  if (iface === undefined || address.family === 4 || iface.includes(':')) return iface;
  return `::%${iface}`;
}

function closeQuietly(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
