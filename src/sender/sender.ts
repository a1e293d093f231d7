/**
 * HeartbeatSender: the Node analog of mod_heartbeat. Sends `v=1&ready=<u>&busy=<u>` (plus
 * `&port=<u>` when given) to a multicast group or to unicast addresses every interval
 * (SPEC 1.1).
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { parseSocketAddress, type SocketAddress } from '../protocol/address.js';
import { SenderError } from '../errors.js';
import { interfaceFor } from '../monitor/heartbeat-socket.js';
import { formatHeartbeat, MAX_COUNT } from '../protocol/heartbeat.js';
import { normalizeSecrets, signHeartbeat, type HeartbeatSecrets } from '../protocol/signature.js';
import { expectFunction, expectInteger, expectObject, expectString, show } from '../validate.js';

/** What an origin reports: idle and busy workers. */
export interface HeartbeatStatus {
  /** Workers idle and ready for a request. */
  readonly ready: number;
  /** Workers doing anything else. */
  readonly busy: number;
}

/** Options of {@link HeartbeatSender}. */
export interface HeartbeatSenderOptions {
  /**
   * `HeartbeatAddress`: where to send, `addr:port` (`239.0.0.1:27999`, `10.0.0.5:27999`,
   * `[ff15::1]:27999`), or several addresses: the same datagram goes to each (unicast
   * fan-out for networks without multicast).
   */
  readonly address: string | readonly string[];
  /**
   * Local interface multicast datagrams leave through: an IPv4 address, or for IPv6 an
   * interface name (`lo`) or scoped address (`::%lo`). The OS chooses when omitted.
   */
  readonly interface?: string | undefined;
  /**
   * Local IP the socket binds to, i.e. the source address monitors see (and key the server
   * by). The OS chooses when omitted.
   */
  readonly localAddress?: string | undefined;
  /**
   * Time between two heartbeats, in ms (mod_heartbeat: 1000).
   * @default 1000
   */
  readonly interval?: number;
  /** Current counts; called once per beat, may be async. */
  readonly status: () => HeartbeatStatus | PromiseLike<HeartbeatStatus>;
  /** Service port announced with `&port=`; omitted from the message when not given (as mod_heartbeat does). */
  readonly port?: number | undefined;
  /**
   * Multicast TTL (hops); 1 keeps heartbeats on the local network, as Apache does.
   * @default 1
   */
  readonly ttl?: number;
  /**
   * Shared secret: sign every heartbeat (`&ts=<ms>&sig=<hmac>`, see `signHeartbeat`) for
   * monitors created with the same `secret`. With a list (key rotation) the first signs.
   * Apache and monitors without a secret ignore the two extra fields.
   */
  readonly secret?: HeartbeatSecrets | undefined;
}

/** The events of {@link HeartbeatSender}. */
export interface HeartbeatSenderEvents {
  /** A heartbeat was sent to every address. */
  sent: [message: string, status: HeartbeatStatus];
  /** A beat was skipped: status() failed or returned bad counts, or sending failed. The sender keeps running. */
  error: [error: SenderError];
}

interface Destination {
  readonly text: string;
  readonly address: SocketAddress;
}

/**
 * Announces an origin server's idle and busy workers to heartbeat monitors (mod_heartmonitor
 * or {@link HeartMonitor}), byte-identical to mod_heartbeat.
 *
 * @example
 * ```ts
 * const sender = new HeartbeatSender({
 *   address: '239.0.0.1:27999',
 *   port: 8080,
 *   status: () => ({ ready: 10 - inFlight, busy: inFlight }),
 * });
 * await sender.start();
 * ```
 */
export class HeartbeatSender extends EventEmitter<HeartbeatSenderEvents> {
  /** Time between two heartbeats, in ms. */
  readonly interval: number;
  private readonly destinations: readonly Destination[];
  private readonly statusFn: () => HeartbeatStatus | PromiseLike<HeartbeatStatus>;
  private readonly port: number | undefined;
  private readonly ttl: number;
  private readonly iface: string | undefined;
  private readonly localAddress: string | undefined;
  private readonly secrets: readonly Buffer[] | undefined;
  /** `ts` of the last signed heartbeat: monitors refuse one that is not newer. */
  private signedAt = 0;
  private readonly sockets = new Map<4 | 6, Promise<Socket>>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  /** Bumped by stop(), so a beat cut short by closing its socket is not reported as a failure. */
  private generation = 0;

  /**
   * @param options - see {@link HeartbeatSenderOptions}; invalid values throw TypeError or
   * RangeError naming the option
   */
  constructor(options: HeartbeatSenderOptions) {
    super();
    expectObject('options', options);
    const list: readonly unknown[] = typeof options.address === 'string' ? [options.address] : Array.isArray(options.address) ? options.address : [options.address];
    if (list.length === 0) throw new TypeError('Expected `address` to be "addr:port" or a non-empty array of them, got []');
    this.destinations = list.map((text) => ({ text: String(text), address: parseSocketAddress(text, 'address') }));
    this.statusFn = expectFunction('status', options.status);
    this.interval = expectInteger('interval', options.interval ?? 1000, 1);
    this.port = options.port === undefined ? undefined : expectInteger('port', options.port, 1, 65535);
    this.ttl = expectInteger('ttl', options.ttl ?? 1, 0, 255);
    this.iface = options.interface === undefined ? undefined : expectString('interface', options.interface);
    this.secrets = options.secret === undefined ? undefined : normalizeSecrets(options.secret, 'secret');
    if (options.localAddress !== undefined) {
      const family = isIP(expectString('localAddress', options.localAddress).split('%')[0] ?? '');
      if (family === 0) throw new TypeError(`Expected \`localAddress\` to be an IP address, got ${show(options.localAddress)}`);
      const other = this.destinations.find((d) => d.address.family !== family);
      if (other !== undefined) throw new TypeError(`\`localAddress\` ${show(options.localAddress)} is IPv${family} but \`address\` ${show(other.text)} is not`);
      this.localAddress = options.localAddress;
    }
  }

  /** Whether the periodic beat is running. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Send a heartbeat now and then every `interval`. Idempotent. Resolves once the first
   * heartbeat went out (or was skipped with an `error` event).
   */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    // The timer never keeps the process alive: the origin's own server does.
    this.timer = setInterval(() => void this.sendOnce(), this.interval).unref();
    await this.sendOnce();
  }

  /** Stop beating and close the socket(s). Idempotent; `start()` works again afterwards. */
  async stop(): Promise<void> {
    this.generation++;
    clearInterval(this.timer);
    this.timer = undefined;
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(
      sockets.map(async (pending) => {
        const socket = await pending.catch(() => undefined);
        if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
      }),
    );
  }

  /**
   * Send one heartbeat to every address now (tests and the CLI use it).
   *
   * @returns the message sent, or undefined when the beat was skipped (an `error` event
   * says why) or the previous beat is still waiting for an async status()
   */
  async sendOnce(): Promise<string | undefined> {
    if (this.beating) return undefined; // a slow async status(): skip rather than pile up
    this.beating = true;
    const generation = this.generation;
    try {
      const status = await this.readStatus();
      // stop() was called while status() ran: do not reopen a socket for a stopped sender.
      if (status === undefined || generation !== this.generation) return undefined;
      let message = formatHeartbeat({ ready: status.ready, busy: status.busy, port: this.port });
      if (this.secrets !== undefined) {
        // Strictly increasing even if the wall clock steps back, so no beat looks like a replay.
        this.signedAt = Math.max(Date.now(), this.signedAt + 1);
        message = signHeartbeat(message, this.secrets, this.signedAt);
      }
      const bytes = Buffer.from(message, 'latin1');
      const results = await Promise.all(this.destinations.map((destination) => this.sendTo(destination, bytes, generation)));
      if (!results.every(Boolean)) return undefined;
      this.emit('sent', message, status);
      return message;
    } finally {
      this.beating = false;
    }
  }

  private async readStatus(): Promise<HeartbeatStatus | undefined> {
    let status: unknown;
    try {
      status = await this.statusFn();
    } catch (cause) {
      this.emit('error', new SenderError('status() failed, heartbeat skipped', 'HM_STATUS_FAILED', cause));
      return undefined;
    }
    const counts = status as Partial<HeartbeatStatus> | null | undefined;
    if (!isCount(counts?.ready) || !isCount(counts?.busy)) {
      this.emit('error', new SenderError(`status() must return { ready, busy } with integers in 0..${MAX_COUNT}, got ${show(status)}; heartbeat skipped`, 'HM_STATUS_FAILED'));
      return undefined;
    }
    return { ready: counts.ready, busy: counts.busy };
  }

  private async sendTo(destination: Destination, bytes: Buffer, generation: number): Promise<boolean> {
    try {
      const socket = await this.socketFor(destination.address.family);
      await new Promise<void>((resolve, reject) => {
        socket.send(bytes, destination.address.port, destination.address.host, (error) => (error ? reject(error) : resolve()));
      });
      return true;
    } catch (cause) {
      if (generation === this.generation) this.emit('error', new SenderError(`Cannot send heartbeat to ${destination.text}`, 'HM_SEND_FAILED', cause));
      return false;
    }
  }

  /** One socket per address family, opened on first use. */
  private socketFor(family: 4 | 6): Promise<Socket> {
    let pending = this.sockets.get(family);
    if (pending === undefined) {
      pending = this.openSocket(family);
      this.sockets.set(family, pending);
      // A failed open is retried on the next beat.
      pending.catch(() => {
        if (this.sockets.get(family) === pending) this.sockets.delete(family);
      });
    }
    return pending;
  }

  private openSocket(family: 4 | 6): Promise<Socket> {
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    return new Promise<Socket>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(error);
      };
      socket.once('error', onError);
      socket.bind({ address: this.localAddress, port: 0 }, () => {
        socket.off('error', onError);
        // Late socket errors become events; a socket without an 'error' listener would crash the process.
        socket.on('error', (error) => this.emit('error', new SenderError('Heartbeat socket error', 'HM_SEND_FAILED', error)));
        try {
          if (this.destinations.some((d) => d.address.multicast && d.address.family === family)) {
            const sample = this.destinations.find((d) => d.address.family === family)?.address;
            const iface = sample === undefined ? undefined : interfaceFor(sample, this.iface);
            if (iface !== undefined) socket.setMulticastInterface(iface);
            socket.setMulticastLoopback(true);
            socket.setMulticastTTL(this.ttl);
          }
        } catch (error) {
          socket.close();
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        socket.unref();
        resolve(socket);
      });
    });
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_COUNT;
}
