import { createSocket, type Socket } from 'node:dgram';

/** A test sender playing one origin server: bound to its own loopback address. */
export interface UdpSender {
  /** The local address the datagrams come from. */
  readonly address: string;
  /** The local port the datagrams come from. */
  readonly port: number;
  /** Send one datagram to a loopback address or a multicast group pinned to 127.0.0.1. */
  send(message: string | Buffer, port: number, host: string): Promise<void>;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|239\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * Bind a UDP socket to `address` (127.0.0.2, ::1…). IPv4 multicast leaves through the
 * loopback interface only (network-safety rule: nothing leaves the machine).
 */
export async function udpSender(address: string): Promise<UdpSender> {
  const socket: Socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  if (!address.includes(':')) socket.setMulticastInterface('127.0.0.1');
  return {
    address,
    port: socket.address().port,
    send: (message, port, host) => {
      if (!LOOPBACK.test(host)) return Promise.reject(new Error(`refusing to send outside loopback: ${host}`));
      return new Promise((resolve, reject) => socket.send(message, port, host, (error) => (error ? reject(error) : resolve())));
    },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
