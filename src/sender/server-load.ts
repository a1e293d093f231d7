/**
 * Derive a heartbeat status from a `node:http` / `node:https` server: busy = requests in
 * flight, ready = declared capacity minus busy.
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { HeartbeatStatus } from './sender.js';
import { expectInteger, expectObject } from '../validate.js';

/** Options of {@link trackServerLoad}. */
export interface ServerLoadOptions {
  /** How many concurrent requests the server is meant to handle (its "workers"). */
  readonly capacity: number;
}

/** Live load of a server, ready to be passed as a {@link HeartbeatSender} `status`. */
export interface ServerLoad {
  /** Declared capacity. */
  readonly capacity: number;
  /** Requests received whose response has not finished or been aborted yet. */
  readonly inFlight: number;
  /** `{ ready: max(0, capacity − busy), busy }` with busy = requests in flight. */
  readonly status: () => HeartbeatStatus;
  /** Stop counting (removes the listener from the server). */
  close(): void;
}

/**
 * Count a server's requests in flight, from its `request` event until the response's
 * `close` (sent in full, or the connection dropped).
 *
 * @example
 * ```ts
 * const server = http.createServer(app);
 * const load = trackServerLoad(server, { capacity: 50 });
 * new HeartbeatSender({ address: '239.0.0.1:27999', status: load.status }).start();
 * ```
 * @param server - an `http.Server` or `https.Server` (anything emitting `request`)
 * @param options - the declared capacity
 */
export function trackServerLoad(server: Pick<Server, 'on' | 'off'>, options: ServerLoadOptions): ServerLoad {
  expectObject('options', options, '{ capacity }');
  const capacity = expectInteger('capacity', options.capacity, 0);
  let inFlight = 0;
  const onRequest = (_request: IncomingMessage, response: ServerResponse): void => {
    inFlight++;
    // 'close' fires exactly once per response, whether it finished or the client went away.
    response.once('close', () => {
      inFlight--;
    });
  };
  server.on('request', onRequest);
  return {
    capacity,
    get inFlight() {
      return inFlight;
    },
    status: () => ({ ready: Math.max(0, capacity - inFlight), busy: inFlight }),
    close: () => {
      server.off('request', onRequest);
    },
  };
}
