/**
 * The benchmark suite: `npm run bench` prints a table, `-- --json` prints JSON,
 * `-- --smoke` runs tiny sizes once (CI: correctness assertions, no timing assertions),
 * `-- --only pick,memory` runs a subset, `-- --repeats N` sets the repetitions,
 * `-- --save FILE` also writes the JSON to FILE.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Report, type BenchContext } from './lib/report.js';
import { flushBench } from './suites/flush.js';
import { freshnessBench } from './suites/freshness.js';
import { idleBench } from './suites/idle.js';
import { ingestBench } from './suites/ingest.js';
import { memoryBench } from './suites/memory.js';
import { pickBench } from './suites/pick.js';
import { poolBench } from './suites/pool-rate.js';
import { viewTailBench } from './suites/view-tail.js';
import { proxyBench } from './suites/proxy.js';
import { clusterBench } from './suites/cluster.js';
import { loadBench } from './load/index.js';
import { redisBench } from './suites/redis.js';

type Bench = (ctx: BenchContext) => Promise<void>;

const benches: Readonly<Record<string, Bench>> = {
  ingest: ingestBench,
  pick: pickBench,
  freshness: freshnessBench,
  flush: flushBench,
  memory: memoryBench,
  proxy: proxyBench,
  idle: idleBench,
  pool: poolBench,
  tail: viewTailBench,
  cluster: clusterBench,
  load: loadBench,
  redis: redisBench,
};

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    repeats: { type: 'string' },
    save: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(`Usage: npm run bench -- [--json] [--smoke] [--only ${Object.keys(benches).join(',')}] [--repeats N] [--save FILE]\n`);
  process.exit(0);
}

const selected = values.only === undefined ? Object.keys(benches) : values.only.split(',').map((name) => name.trim());
for (const name of selected) {
  if (!(name in benches)) {
    process.stderr.write(`Unknown bench ${JSON.stringify(name)}; expected one of ${Object.keys(benches).join(', ')}\n`);
    process.exit(2);
  }
}
const repeats = values.repeats === undefined ? (values.smoke ? 1 : 5) : Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 1) {
  process.stderr.write(`Expected \`--repeats\` to be a positive integer, got ${JSON.stringify(values.repeats)}\n`);
  process.exit(2);
}

const report = new Report();
const started = new Date();
for (const name of selected) {
  const bench = benches[name];
  if (bench !== undefined) await bench(report.context(name, values.smoke, repeats, values.repeats !== undefined));
}

const machine = {
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  command: `npm run bench --${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  started: started.toISOString(),
  smoke: values.smoke,
  repeats,
};
const json = `${JSON.stringify({ machine, figures: report.figures }, null, 2)}\n`;
if (values.save !== undefined) writeFileSync(values.save, json);
if (values.json) {
  process.stdout.write(json);
} else {
  process.stdout.write(`${machine.cpu} × ${machine.nproc}, Node ${machine.node}, ${machine.platform}; ${repeats} run(s) per figure${values.smoke ? ' (smoke sizes)' : ''}\n\n`);
  process.stdout.write(`${report.table()}\n`);
}
