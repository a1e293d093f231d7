/**
 * Starts and stops a real Apache httpd (Debian's apache2-bin) for the interop suite.
 *
 * httpd refuses to run its workers as root, so it runs as www-data with world-writable
 * temp dirs; its runtime dir and pid file live in the temp dir too. Every instance is
 * stopped with `-k stop` and then by PID (parent and children), also when a test fails or
 * the process is interrupted, and its temp dir is removed.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { addExitHook, makeTempDir, removeExitHook, removeTempDir } from './cleanup.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** The httpd binary of Debian's apache2-bin. */
export const HTTPD_BINARY = '/usr/sbin/apache2';
/** Where apache2-bin puts its modules. */
export const MODULES_DIR = '/usr/lib/apache2/modules';
const COMMAND_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 8_000;

/**
 * The event MPM with a fixed worker count (SPEC 2.4): 2 children × 10 threads, never more,
 * never fewer, so mod_heartbeat's ready + busy is exactly 20.
 */
export const FIXED_WORKERS = 20;
const FIXED_MPM = ['StartServers 2', 'ServerLimit 2', 'ThreadsPerChild 10', 'MaxRequestWorkers 20', 'MinSpareThreads 10', 'MaxSpareThreads 20'];

/** How to configure one httpd. */
export interface HttpdOptions {
  /** Short name, used for the temp dir and in messages. */
  readonly name: string;
  /** TCP port httpd listens on (127.0.0.1). */
  readonly port: number;
  /** Module names to load besides the event MPM, e.g. `heartbeat` for mod_heartbeat.so. */
  readonly modules: readonly string[];
  /** Further directives; `{{dir}}` is replaced by the instance's temp dir. */
  readonly config: string;
  /** LogLevel directive value. */
  readonly logLevel?: string;
}

/** One running httpd. */
export class Httpd {
  /** Parent process id (from the pid file). */
  pid = 0;
  private exitHook: (() => void) | undefined;
  private stopped = false;

  private constructor(
    readonly name: string,
    /** Temp dir holding conf, logs, run dir and any data files. */
    readonly dir: string,
    readonly port: number,
  ) {}

  /** Path of the generated configuration. */
  get configPath(): string {
    return join(this.dir, 'httpd.conf');
  }

  /** Path of the error log. */
  get errorLogPath(): string {
    return join(this.dir, 'logs', 'error.log');
  }

  private get pidPath(): string {
    return join(this.dir, 'run', 'httpd.pid');
  }

  /** Write the config, start httpd and wait until it accepts connections. */
  static async start(options: HttpdOptions): Promise<Httpd> {
    // www-data must reach the logs, runtime and data dirs
    const dir = makeTempDir(options.name, 0o777);
    const httpd = new Httpd(options.name, dir, options.port);
    httpd.exitHook = () => httpd.killNow();
    addExitHook(httpd.exitHook);
    for (const sub of ['logs', 'run', 'data']) mkdirWorldWritable(join(dir, sub));
    writeFileSync(httpd.configPath, httpd.renderConfig(options));
    try {
      await run(HTTPD_BINARY, ['-f', httpd.configPath, '-k', 'start'], { timeout: COMMAND_TIMEOUT_MS });
      httpd.pid = await waitFor(`${options.name}: pid file`, () => readPid(httpd.pidPath), { timeoutMs: 5000, retryErrors: true });
      await waitFor(`${options.name}: httpd accepting on 127.0.0.1:${options.port}`, () => canConnect(options.port), { timeoutMs: 5000, retryErrors: true });
    } catch (error) {
      const log = httpd.errorLog();
      await httpd.stop();
      throw new Error(`httpd ${options.name} did not start: ${describe(error)}\n--- error log ---\n${log}`, { cause: error });
    }
    return httpd;
  }

  /** The error log so far ('' when there is none). */
  errorLog(): string {
    try {
      return readFileSync(this.errorLogPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last `count` lines of the error log, for failure messages. */
  errorLogTail(count = 15): string {
    const lines = this.errorLog().trimEnd().split('\n');
    return `--- ${this.name} httpd error log (last ${Math.min(count, lines.length)} lines) ---\n${lines.slice(-count).join('\n')}`;
  }

  /** Process ids of the parent's children (the MPM's worker processes). */
  children(): number[] {
    if (this.pid === 0) return [];
    return childrenOf(this.pid);
  }

  /**
   * `apache2 -k stop`, then kill whatever is left by PID and remove the temp dir.
   * Idempotent; never throws.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const pid = this.pid !== 0 ? this.pid : (readPid(this.pidPath) ?? 0);
    const children = pid === 0 ? [] : childrenOf(pid);
    try {
      await run(HTTPD_BINARY, ['-f', this.configPath, '-k', 'stop'], { timeout: COMMAND_TIMEOUT_MS });
    } catch {
      // not running (start failed) or stop failed: the PID kill below still applies
    }
    if (pid !== 0) {
      try {
        await waitFor(`${this.name}: httpd ${pid} to exit`, () => !isAlive(pid), { timeoutMs: EXIT_TIMEOUT_MS, retryErrors: true });
      } catch {
        // fall through to SIGKILL
      }
    }
    this.killNow([pid, ...children]);
  }

  /** Synchronous last resort (process exit): SIGKILL by PID and remove the temp dir. */
  killNow(pids: number[] = [this.pid, ...this.children()]): void {
    for (const pid of pids) {
      // Only processes still running our config: a PID that exited may have been reused.
      if (pid === 0 || !this.owns(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.stopped = true;
    if (this.exitHook !== undefined) removeExitHook(this.exitHook);
    removeTempDir(this.dir);
  }

  /** Whether `pid` is an httpd started with this instance's config. */
  private owns(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(this.configPath);
    } catch {
      return false;
    }
  }

  private renderConfig(options: HttpdOptions): string {
    // Without the authn/authz cores every request fails with "couldn't check user".
    const modules = ['mpm_event', 'authn_core', 'authz_core', ...options.modules].map((name) => `LoadModule ${name}_module ${MODULES_DIR}/mod_${name}.so`);
    return [
      `# generated by the heartmonitor interop suite (${options.name})`,
      `ServerRoot "${this.dir}"`,
      'ServerName interop.invalid',
      `Listen 127.0.0.1:${options.port}`,
      'User www-data',
      'Group www-data',
      `DefaultRuntimeDir "${this.dir}/run"`,
      `PidFile "${this.dir}/run/httpd.pid"`,
      `ErrorLog "${this.errorLogPath}"`,
      `LogLevel ${options.logLevel ?? 'warn'}`,
      ...modules,
      ...FIXED_MPM,
      options.config.replaceAll('{{dir}}', this.dir),
      '',
    ].join('\n');
  }
}

function mkdirWorldWritable(path: string): void {
  mkdirSync(path);
  chmodSync(path, 0o777); // set after creation: the umask strips bits given to mkdir
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Children of `parent`, read from /proc (no external tool). */
export function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name (field 2) may contain spaces: fields restart after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const stderr = (error as Error & { stderr?: unknown }).stderr;
    return typeof stderr === 'string' && stderr.trim() !== '' ? `${error.message}\n${stderr.trim()}` : error.message;
  }
  return String(error);
}
