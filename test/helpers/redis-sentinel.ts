/**
 * A real Redis Sentinel for tests: `redis-server --sentinel` on a free loopback port,
 * watching one master (quorum 1), stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RedisServer } from './redis-server.js';

/** One sentinel process watching `master` under `name`. */
export class RedisSentinelProcess {
  private constructor(
    readonly port: number,
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  /** Start a sentinel for `master`; resolves once it answers with the master's address. */
  static async start(master: RedisServer, name = 'hm-master'): Promise<RedisSentinelProcess> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'hm-sentinel-'));
    const config = join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file: it must be writable, in a directory of its own.
    writeFileSync(config, [`port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`, ''].join('\n'));
    const child = spawn('redis-server', [config, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.resume();
    child.stderr?.resume();
    const sentinel = new RedisSentinelProcess(port, name, child, dir);
    try {
      await sentinel.waitForMaster(master.port, 5000);
    } catch (error) {
      await sentinel.stop();
      throw error;
    }
    return sentinel;
  }

  /** Kill the process (SIGKILL) and remove its directory. */
  async stop(): Promise<void> {
    const { child } = this;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Poll `SENTINEL get-master-addr-by-name` until it names the master's port. */
  private async waitForMaster(masterPort: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const command = `*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$${this.name.length}\r\n${this.name}\r\n`;
    for (;;) {
      const reply = await new Promise<string>((resolve) => {
        const socket = connect(this.port, '127.0.0.1');
        socket.once('connect', () => socket.write(command));
        socket.once('data', (data: Buffer) => {
          socket.destroy();
          resolve(data.toString());
        });
        socket.once('error', () => resolve(''));
      });
      if (reply.includes(String(masterPort))) return;
      if (Date.now() > deadline) throw new Error(`sentinel on port ${this.port} did not report its master (last reply ${JSON.stringify(reply)})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
