// Shared test helpers for the sender, HTTP handler, CLI and example tests.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeartbeatSender } from '../../src/index.js';
import { waitFor } from './wait.js';

/** An HTTP response read in full. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Send one HTTP request to a loopback server and read the whole answer. */
export async function httpRequest(
  url: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false });
  req.end(options.body);
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** A child process with its output collected as it arrives. */
export interface RunningChild {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Wait until stdout matches `pattern`; returns the match. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Stop it by its PID (`signal`, default SIGTERM, then SIGKILL after a grace period). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Start `node <args>` and collect its output. */
export function startNode(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunningChild {
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? process.cwd(), env: { ...process.env, ...options.env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? -1)));
  let status: number | string | undefined;
  void exited.then((value) => (status = value));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(pattern, timeoutMs = 10_000) {
      await waitFor(`output ${String(pattern)}`, () => pattern.test(out) || status !== undefined, { timeoutMs }).catch((error: Error) => {
        throw new Error(`${error.message}\nstdout:\n${out}\nstderr:\n${err}`);
      });
      const match = pattern.exec(out);
      if (match === null) throw new Error(`process exited (${String(status)}) before printing ${String(pattern)}\nstdout:\n${out}\nstderr:\n${err}`);
      return match;
    },
    async stop(signal = 'SIGTERM') {
      if (status === undefined && child.pid !== undefined) {
        process.kill(child.pid, signal);
        const timer = setTimeout(() => {
          if (status === undefined && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        }, 5000);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

/**
 * Run `node <args>` to its end, as an example runs by itself: fails unless it exits 0
 * within `timeoutMs` (then it is killed); resolves with its stdout.
 */
export async function runNodeToEnd(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const running = startNode(args, options);
  const killer = setTimeout(() => void running.stop('SIGKILL'), options.timeoutMs ?? 90_000);
  try {
    const code = await running.exited;
    assert.equal(code, 0, `exit ${code}\n${running.stdout()}\n${running.stderr()}`);
  } finally {
    clearTimeout(killer);
  }
  return running.stdout();
}

/** An origin server for the example tests, and how it announces itself. */
export interface AnnouncedOrigin {
  readonly server: Server;
  readonly url: string;
  /** Start a HeartbeatSender from the origin's host to `address` (every 100 ms). */
  announce(address: string): Promise<HeartbeatSender>;
}

/**
 * An HTTP origin on `host` (a free port) answering with `answer(request)` (its host by
 * default), announcing `status` when asked to.
 */
export async function announcedOrigin(
  host: string,
  options: { status?: { ready: number; busy: number }; answer?: (request: IncomingMessage, host: string) => string } = {},
): Promise<AnnouncedOrigin> {
  const { status = { ready: 10, busy: 1 }, answer = () => host } = options;
  const server = createServer((req, res) => res.end(answer(req, host)));
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://${host}:${port}`,
    async announce(address) {
      const sender = new HeartbeatSender({ address, localAddress: host, port, interval: 100, status: () => status });
      await sender.start();
      return sender;
    },
  };
}
