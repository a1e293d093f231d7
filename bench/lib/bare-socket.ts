/**
 * The baseline receiver of the UDP benches: a bare dgram socket on 127.0.0.1 that only
 * hands each datagram to a counter, with the receive buffer the monitor uses by default.
 */
import { createSocket } from 'node:dgram';

/** The monitor's default `recvBufferSize`, given to the bare socket too. */
export const RECV_BUFFER = 4 * 1024 * 1024;

/** A bound bare socket. */
export interface BareSocket {
  readonly port: number;
  close(): Promise<void>;
}

/** Bind a bare socket on 127.0.0.1 (port chosen by the OS) calling `onMessage` per datagram. */
export async function openBareSocket(onMessage: (message: Buffer) => void): Promise<BareSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
  socket.setRecvBufferSize(RECV_BUFFER);
  socket.on('message', onMessage);
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
