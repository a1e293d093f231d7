/**
 * The view contract against every view: the monitor itself, a SlotStore view of a monitor
 * in a worker thread, a ClusterView of a monitor in a forked process, and an hb.dat reader
 * of a monitor in another process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterView, HeartbeatFileReader, HeartMonitor, SlotStore, type HeartbeatViewOptions, type HeartMonitorOptions } from '../../../src/index.js';
import type { HostCommand } from './monitor-host.js';
import { HOST_SETTINGS, viewContract, type ViewHost, type ViewUnderTest } from './view-contract.js';

const HOST = new URL('./monitor-host.ts', import.meta.url);

type Command = HostCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

/** Commands over a message channel, each resolved by its ack. */
function commander(post: (message: unknown) => void, on: (listener: (message: unknown) => void) => void): (command: Command) => Promise<void> {
  let next = 0;
  const waiting = new Map<number, (refused: boolean) => void>();
  on((message) => {
    const { ack, refused } = (message ?? {}) as { ack?: number; refused?: boolean };
    if (typeof ack === 'number') waiting.get(ack)?.(refused === true);
  });
  return (command) =>
    new Promise<void>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => reject(new Error(`no ack for ${JSON.stringify(command)}`)), 10_000);
      waiting.set(id, (refused) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (refused) reject(new Error(`the host refused ${JSON.stringify(command)}`));
        else resolve();
      });
      post({ ...command, id });
    });
}

function controls(view: ViewUnderTest['view'], send: (command: Command) => Promise<void>): ViewUnderTest {
  return {
    view,
    beat: (ip, ready, busy = 1) => send({ host: 'beat', ip, ready, busy }),
    drain: (ip) => send({ host: 'drain', ip }),
    disable: (ip) => send({ host: 'disable', ip }),
    enable: (ip) => send({ host: 'enable', ip }),
  };
}

viewContract(
  'HeartMonitor (the monitor is its own view)',
  (): Promise<ViewHost> =>
    Promise.resolve({
  open: (options: HeartbeatViewOptions) => {
    const monitor = new HeartMonitor({ ...(options as HeartMonitorOptions), ...HOST_SETTINGS });
    const direct = (command: Command): Promise<void> => {
      if (command.host === 'beat') {
        if (!monitor.ingest(`v=1&ready=${command.ready}&busy=${command.busy}`, { address: command.ip })) return Promise.reject(new Error(`refused ${command.ip}`));
      } else if (command.host === 'drain') monitor.drain(command.ip);
      else if (command.host === 'disable') monitor.disable(command.ip);
      else if (command.host === 'enable') monitor.enable(command.ip);
      return Promise.resolve();
    };
    return Promise.resolve(controls(monitor, direct));
  },
  close: () => Promise.resolve(),
    }),
  { sharedTable: false },
);

viewContract('SlotStoreView of a monitor in a worker thread', async (): Promise<ViewHost> => {
  const worker = new Worker(new URL('../../stores/ts-worker.mjs', import.meta.url), { workerData: { module: HOST.href, settings: HOST_SETTINGS } });
  const [{ buffer }] = (await once(worker, 'message')) as [{ buffer: SharedArrayBuffer }];
  const send = commander(
    (message) => worker.postMessage(message),
    (listener) => worker.on('message', listener),
  );
  return {
    open: (options) => Promise.resolve(controls(SlotStore.attach(buffer, options), send)),
    close: async () => void (await worker.terminate()),
  };
});

viewContract('ClusterView of a monitor in a forked process', async (): Promise<ViewHost> => {
  const child: ChildProcess = fork(fileURLToPath(HOST), [], {
    execArgv: ['--import', 'tsx/esm'],
    env: { ...process.env, HM_HOST_MODE: 'cluster', HM_HOST_SETTINGS: JSON.stringify(HOST_SETTINGS) },
  });
  for (;;) {
    const [message] = (await once(child, 'message', { signal: AbortSignal.timeout(30_000) })) as [{ up?: boolean }];
    if (message.up === true) break;
  }
  const send = commander(
    (message) => child.send(message as object),
    (listener) => child.on('message', listener),
  );
  child.setMaxListeners(32); // one per view of the suite, plus the commander's
  return {
    open: async (options) => controls(await ClusterView.connect({ ...options, ipc: child }), send),
    close: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
});

/** A forked monitor host, up and answering. */
async function forkHost(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(fileURLToPath(HOST), [], { execArgv: ['--import', 'tsx/esm'], env: { ...process.env, ...env } });
  for (;;) {
    const [message] = (await once(child, 'message', { signal: AbortSignal.timeout(30_000) })) as [{ up?: boolean }];
    if (message.up === true) return child;
  }
}

// hb.dat carries ages in whole seconds: longer times, and a second of resolution.
const FILE_SETTINGS = { staleAfter: 1500, expireAfter: 3000 } as const;

viewContract('HeartbeatFileReader of a monitor in another process', async (): Promise<ViewHost> => {
  const dir = mkdtempSync(join(tmpdir(), 'hm-view-contract-'));
  const path = join(dir, 'hb.dat');
  const child = await forkHost({ HM_HOST_MODE: 'file', HM_HOST_PATH: path, HM_HOST_SETTINGS: JSON.stringify(FILE_SETTINGS) });
  const send = commander(
    (message) => child.send(message as object),
    (listener) => child.on('message', listener),
  );
  return {
    settings: { ...FILE_SETTINGS, resolution: 1000 },
    open: (options) => {
      // No settings given: the reader takes the monitor's from the file's settings line.
      const reader = new HeartbeatFileReader({ ...options, path, checkInterval: 0 });
      // Each change is flushed at once and the reader re-reads before the test goes on.
      const flushed = (command: Command) => async (): Promise<void> => {
        await send(command);
        await send({ host: 'flush' });
        reader.refresh();
      };
      return Promise.resolve({
        view: reader,
        beat: (ip, ready, busy = 1) => flushed({ host: 'beat', ip, ready, busy })(),
        drain: (ip) => flushed({ host: 'drain', ip })(),
        disable: (ip) => flushed({ host: 'disable', ip })(),
        enable: (ip) => flushed({ host: 'enable', ip })(),
      });
    },
    close: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
