/**
 * What this machine's loopback offers the demo: extra addresses (127.0.0.2…, present on
 * Linux, absent on macOS by default) and multicast delivery pinned to 127.0.0.1.
 * @module
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

/** Whether a UDP socket can bind `address`. */
export async function canBind(address: string): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    socket.bind(0, address);
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** Whether a datagram sent to `group` through 127.0.0.1 comes back to a member on 127.0.0.1. */
export async function multicastLoopbackWorks(group: string, timeoutMs = 500): Promise<boolean> {
  const receiver = createSocket({ type: 'udp4', reuseAddr: true });
  const sender = createSocket('udp4');
  try {
    receiver.bind(0, group);
    await once(receiver, 'listening');
    receiver.addMembership(group, '127.0.0.1');
    sender.bind(0, '127.0.0.1');
    await once(sender, 'listening');
    sender.setMulticastInterface('127.0.0.1');
    sender.setMulticastLoopback(true);
    sender.setMulticastTTL(1);
    const arrived = once(receiver, 'message').then(() => true);
    sender.send('probe', receiver.address().port, group);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([arrived, timedOut]);
    clearTimeout(timer);
    return result;
  } catch {
    return false;
  } finally {
    receiver.close();
    sender.close();
  }
}
