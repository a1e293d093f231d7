/**
 * What heartmonitor/undici costs per request: the same closed loop of `undici.request`
 * calls (fixed concurrency and count) through (a) a plain undici `Agent` to one origin,
 * picked by hand, and (b) `createDispatcher(monitor, members)` over four origins (pick,
 * lease, header filtering, pool per origin). Origins run in a child process on loopback;
 * the two variants alternate within each repetition. Prints requests/s of each, medians
 * and spread, and b/a.
 *
 * Run: node --import tsx/esm bench/dispatcher.ts [--requests 4000] [--concurrency 16] [--repeats 5]
 */
import { parseArgs } from 'node:util';
import { Agent, request, type Dispatcher } from 'undici';
import { HeartMonitor } from '../src/index.js';
import { createDispatcher } from '../src/integrations/undici/index.js';
import { startChild } from './lib/child.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '5' },
  },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const repeats = Number(values.repeats);

/** Requests per second of `total` GETs, `concurrency` at a time. */
async function load(dispatcher: Dispatcher, url: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const { statusCode, body } = await request(url, { dispatcher });
      await body.dump();
      if (statusCode !== 200) throw new Error(`status ${statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return total / ((performance.now() - started) / 1000);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const child = startChild('origins.ts', ['4']);
const monitor = new HeartMonitor();
monitor.on('error', (error) => console.error(error.message));
try {
  const origins = JSON.parse(await child.nextLine(15_000)) as { host: string; port: number }[];
  const beat = (): void => origins.forEach((origin, i) => void monitor.ingest(`v=1&ready=${20 + 10 * i}&busy=3`, { address: origin.host }));
  beat();
  const beating = setInterval(beat, 1000);
  const members = origins.map((origin) => `http://${origin.host}:${origin.port}`);
  const plain = new Agent();
  const balanced = createDispatcher(monitor, members);
  const first = members[0] as string;
  await load(plain, first); // warm-up
  await load(balanced, 'http://upstream/');
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < repeats; i++) {
    // Alternate the order so neither variant always runs on a warmer machine.
    if (i % 2 === 0) {
      a.push(await load(plain, first));
      b.push(await load(balanced, 'http://upstream/'));
    } else {
      b.push(await load(balanced, 'http://upstream/'));
      a.push(await load(plain, first));
    }
  }
  clearInterval(beating);
  const spread = (values: number[]): string => `${Math.round(Math.min(...values))}…${Math.round(Math.max(...values))}`;
  const ratios = a.map((value, i) => (b[i] ?? NaN) / value);
  console.log(`requests ${total} × ${repeats}, concurrency ${concurrency}`);
  console.log(`(a) undici Agent, one origin:        median ${Math.round(median(a))} req/s (${spread(a)})`);
  console.log(`(b) createDispatcher, four members:  median ${Math.round(median(b))} req/s (${spread(b)})`);
  console.log(`b/a per repetition: median ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}…${Math.max(...ratios).toFixed(3)})`);
  await plain.close();
  await balanced.close();
} finally {
  await monitor.close();
  await child.stop();
}
