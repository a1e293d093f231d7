import { join } from 'node:path';
import { FileStore, MemoryStore, SlotStore } from '../../src/index.js';
import { tempDir } from './helpers.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', { create: (maxServers) => new MemoryStore({ maxServers }) });

const dirs: (() => void)[] = [];
storeContract('FileStore', {
  create: (maxServers) => {
    const { dir, remove } = tempDir();
    dirs.push(remove);
    return new FileStore({ path: join(dir, 'hb.dat'), maxServers });
  },
  cleanup: () => {
    for (const remove of dirs.splice(0)) remove();
  },
});

storeContract('SlotStore', { create: (maxServers) => new SlotStore({ maxServers }) });
