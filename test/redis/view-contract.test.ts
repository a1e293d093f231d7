/**
 * The view contract (test/views/contract) against a RedisView: the monitor writes through a
 * RedisStore into a real redis-server, the view reads it back through pub/sub. Each command
 * resolves once the view shows its effect (the contract's "once the view can have it").
 */
import type { createClient } from 'redis';
import { HeartMonitor, type HeartbeatView, type ServerStatus } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { HOST_SETTINGS, viewContract, type ViewHost, type ViewUnderTest } from '../views/contract/view-contract.js';
import { Clients, uniquePrefix } from './support.js';

viewContract('RedisView of a monitor writing a RedisStore', async (): Promise<ViewHost> => {
  const redis = await RedisServer.start();
  const clients = new Clients();
  const writer: ReturnType<typeof createClient> = await clients.connect(redis.url);
  const reader: ReturnType<typeof createClient> = await clients.connect(redis.url);
  const prefix = uniquePrefix('contract-view');
  const store = new RedisStore({ client: writer, prefix, expireAfter: HOST_SETTINGS.expireAfter, batchInterval: 1 });
  const monitor = new HeartMonitor({ store, ...HOST_SETTINGS });
  const shows = async (view: HeartbeatView, test: (server: ServerStatus | undefined) => boolean, ip: string, what: string): Promise<void> => {
    await waitFor(`${what} of ${ip} in the Redis view`, () => test(view.servers().find((server) => server.ip === ip)), { timeoutMs: 3000 });
  };
  return {
    // Picks of a Redis view age by the report's age, rounded to whole ms by the Redis clock.
    settings: { ...HOST_SETTINGS, resolution: 5 },
    open: async (options) => {
      const view = await RedisStore.attach({ client: reader, prefix, expireAfter: HOST_SETTINGS.expireAfter, staleAfter: HOST_SETTINGS.staleAfter, noFreshServer: 'fail', ...options });
      const under: ViewUnderTest = {
        view,
        beat: async (ip, ready, busy = 1) => {
          if (!monitor.ingest(`v=1&ready=${ready}&busy=${busy}`, { address: ip })) throw new Error(`refused ${ip}`);
          const lastSeen = monitor.servers().find((server) => server.ip === ip)?.lastSeen ?? 0;
          await shows(view, (server) => server?.ready === ready && server.busy === busy && server.lastSeen >= lastSeen - 50, ip, 'the heartbeat');
        },
        drain: async (ip) => {
          monitor.drain(ip);
          await shows(view, (server) => server?.state === 'draining', ip, 'drain');
        },
        disable: async (ip) => {
          monitor.disable(ip);
          await shows(view, (server) => server?.state === 'disabled', ip, 'disable');
        },
        enable: async (ip) => {
          monitor.enable(ip);
          await shows(view, (server) => server?.state !== 'draining' && server?.state !== 'disabled', ip, 'enable');
        },
      };
      return under;
    },
    close: async () => {
      await monitor.close();
      clients.closeAll();
      await redis.stop();
    },
  };
});
