/**
 * Real redis-server processes for tests: each on a free loopback port, without
 * persistence, stopped by PID. A cluster is three such servers joined by redis-cli.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1 (bound and released: a tiny race, acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One redis-server on 127.0.0.1. */
export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'hm-redis-'));

  private constructor(
    readonly port: number,
    private readonly clusterEnabled: boolean,
    private readonly password: string | undefined,
    private readonly tls: RedisTlsFiles | undefined,
  ) {}

  /**
   * Start a server on a free port (or `port`, to restart one on the same address);
   * `password` turns AUTH on; `tls` makes the port TLS-only (clients must present a
   * certificate of the same CA when `tls.clientCertificates` is true).
   */
  static async start(options: { port?: number; cluster?: boolean; password?: string; tls?: RedisTlsFiles } = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort()), options.cluster ?? false, options.password, options.tls);
    await server.spawn();
    return server;
  }

  /** `redis://127.0.0.1:<port>`, or `rediss://` with TLS. */
  get url(): string {
    return `${this.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${this.port}`;
  }

  /** PID of the running server. */
  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('redis-server is not running');
    return pid;
  }

  /** Start the process again on the same port (after kill). */
  async spawn(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--protected-mode', 'no'];
    if (this.tls === undefined) args.push('--port', String(this.port));
    else {
      const { cert, key, ca, clientCertificates } = this.tls;
      args.push('--port', '0', '--tls-port', String(this.port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', ca, '--tls-auth-clients', clientCertificates ? 'yes' : 'no');
    }
    if (this.password !== undefined) args.push('--requirepass', this.password);
    if (this.clusterEnabled) args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${this.port}.conf`, '--cluster-node-timeout', '2000');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.resume();
    child.stderr?.resume();
    await waitForPort(this.port, 5000, this.tls === undefined ? undefined : { ca: readFileSync(this.tls.ca), cert: readFileSync(this.tls.clientCert), key: readFileSync(this.tls.clientKey) });
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(this.pid, 'SIGKILL');
    await exited;
    this.child = undefined;
  }

  /** Freeze the process (SIGSTOP). */
  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  /** Thaw it (SIGCONT). */
  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** Stop the process for good and remove its directory. */
  async stop(): Promise<void> {
    if (this.child !== undefined) {
      try {
        process.kill(this.pid, 'SIGCONT');
      } catch {
        // already gone
      }
      await this.kill9();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Run redis-cli against this server. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args]);
    return stdout.trim();
  }
}

/** Three cluster-enabled servers joined as three masters without replicas. */
export async function startCluster(): Promise<RedisServer[]> {
  const nodes = await Promise.all([0, 1, 2].map(() => RedisServer.start({ cluster: true })));
  try {
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const states = await Promise.all(nodes.map((node) => node.cli('cluster', 'info')));
      if (states.every((info) => info.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return nodes;
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
}

/** PEM files of a TLS-only test server and of a client its CA signed. */
export interface RedisTlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Require clients to present a certificate (`--tls-auth-clients yes`). */
  readonly clientCertificates: boolean;
}

/**
 * A throwaway CA, a server certificate for IP 127.0.0.1 and a client certificate, made by
 * the openssl CLI in `dir`, valid for a day.
 */
export async function makeTlsFiles(dir: string, clientCertificates = false): Promise<RedisTlsFiles> {
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): Promise<unknown> => run('openssl', args);
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=heartmonitor test CA', '-keyout', file('ca.key'), '-out', file('ca.pem'));
  for (const [name, subject, extension] of [
    ['server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1'],
    ['client', '/CN=heartmonitor test client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`));
    writeFileSync(file(`${name}.ext`), `${extension}\n`);
    await openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`));
  }
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key'), clientCert: file('client.pem'), clientKey: file('client.key'), clientCertificates };
}

async function waitForPort(port: number, timeoutMs: number, tls?: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket: Socket = tls === undefined ? connect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ...tls });
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        socket.write('PING\r\n');
        socket.once('data', (data: Buffer) => {
          socket.destroy();
          // A server with a password answers NOAUTH: it is up all the same.
          resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
        });
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
