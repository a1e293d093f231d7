#!/usr/bin/env node
/**
 * The `heartmonitor` command: `listen` (the drop-in for mod_heartmonitor), `status`,
 * `send` (mod_heartbeat for the shell) and `demo`.
 * @module
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from './cli/args.js';
import { runDemo } from './cli/demo.js';
import { runListen } from './cli/listen.js';
import { runSend } from './cli/send.js';
import { runStatus } from './cli/status.js';

const HELP = `Usage: heartmonitor <command> [options]

Apache httpd's heartbeat load balancing for Node.js.

Commands:
  listen <addr:port>   receive heartbeats, write hb.dat, show the live table
                       (the drop-in for mod_heartmonitor)
  status [PATH]        print an hb.dat file with the weights lbmethod=heartbeat uses
  send <addr:port>     send heartbeats like mod_heartbeat
  demo                 monitor, origins and a proxy on loopback, for a few seconds

Run "heartmonitor <command> --help" for a command's options;
"heartmonitor --version" prints the version.
`;

const commands: Readonly<Record<string, (args: readonly string[]) => Promise<number>>> = {
  listen: runListen,
  status: runStatus,
  send: runSend,
  demo: runDemo,
};

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const run = commands[command];
  if (run === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)} (expected listen, status, send or demo; see heartmonitor --help)`);
  return run(args);
}

/** The version in our package.json, found upward from this script (dist/esm/ or src/). */
function packageVersion(): string {
  let dir = dirname(realpathSync(process.argv[1] ?? '.'));
  for (let depth = 0; depth < 4; depth++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'heartmonitor' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not here (dist/cjs/package.json has no name): look one level up
    }
  }
  return 'unknown';
}

/**
 * Once a command has returned, nothing it started should keep the process; if something
 * does (a client library's socket left open on a fatal path), exit anyway after this grace
 * period, which lets stdout and stderr drain. Unref'd: a clean process ends before it.
 */
const EXIT_GRACE_MS = 2000;

main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // One line for the user; a stack only for bugs.
      if (error instanceof UsageError) {
        process.stderr.write(`heartmonitor: ${error.message}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`heartmonitor: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      }
    },
  )
  .finally(() => {
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  });
