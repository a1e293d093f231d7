/**
 * The monitor side of the view contract suite, run in another thread or process than the
 * view under test: a HeartMonitor the test drives with commands (heartbeats, drain,
 * disable, enable, flush), answering each once its effect has left for the view.
 *
 * As a worker thread (workerData.mode 'slot'): shares a SlotStore buffer.
 * As a forked child (env HM_HOST_MODE 'cluster' or 'file'): shares through
 * `shareWithCluster()` over its IPC channel, or writes hb.dat at HM_HOST_PATH on `flush`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FileStore, HeartMonitor, SlotStore } from '../../../src/index.js';

/** A command of the test. */
export type HostCommand =
  | { readonly host: 'beat'; readonly id: number; readonly ip: string; readonly ready: number; readonly busy: number }
  | { readonly host: 'drain' | 'disable' | 'enable'; readonly id: number; readonly ip: string }
  | { readonly host: 'flush'; readonly id: number };

/** Host settings (staleAfter and expireAfter of the monitor). */
export interface HostSettings {
  readonly staleAfter: number;
  readonly expireAfter: number;
}

type Send = (message: unknown) => void;

function serve(monitor: HeartMonitor, send: Send, on: (listener: (message: unknown) => void) => void): void {
  on((message) => {
    if (typeof message !== 'object' || message === null || !('host' in message)) return;
    const command = message as HostCommand;
    switch (command.host) {
      case 'beat':
        if (!monitor.ingest(`v=1&ready=${command.ready}&busy=${command.busy}`, { address: command.ip })) {
          send({ ack: command.id, refused: true });
          return;
        }
        break;
      case 'drain':
        monitor.drain(command.ip);
        break;
      case 'disable':
        monitor.disable(command.ip);
        break;
      case 'enable':
        monitor.enable(command.ip);
        break;
      case 'flush':
        void monitor.store.flush().then(() => send({ ack: command.id }));
        return;
    }
    // After the share's batch of this turn (queued first), so the view has it when the ack arrives.
    setImmediate(() => send({ ack: command.id }));
  });
}

if (parentPort !== null) {
  const port = parentPort;
  const { settings } = workerData as { settings: HostSettings };
  // The store is made without settings: the monitor writes its own into the header, which the views read.
  const store = new SlotStore({ maxServers: 256 });
  const monitor = new HeartMonitor({ store, ...settings });
  serve(monitor, (message) => port.postMessage(message), (listener) => port.on('message', listener));
  port.postMessage({ buffer: store.buffer });
} else {
  const settings = JSON.parse(process.env.HM_HOST_SETTINGS ?? '{}') as HostSettings;
  const send: Send = (message) => process.send?.(message);
  if (process.env.HM_HOST_MODE === 'file') {
    const monitor = new HeartMonitor({ store: new FileStore({ path: process.env.HM_HOST_PATH ?? '' }), flushInterval: 3_600_000, ...settings });
    serve(monitor, send, (listener) => process.on('message', listener));
  } else {
    const monitor = new HeartMonitor({ maxServers: 256, ...settings });
    const share = monitor.shareWithCluster({ cluster: false });
    share.add(process as unknown as Parameters<typeof share.add>[0]);
    serve(monitor, send, (listener) => process.on('message', listener));
  }
  process.on('disconnect', () => process.exit(0));
  send({ up: true });
}
