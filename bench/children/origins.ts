/**
 * Child process of the proxy bench: origin servers on 127.0.0.10, 127.0.0.11, … (one
 * node:http server per address, port chosen by the OS), each answering a small body.
 * Prints their addresses as one JSON line; runs until stopped.
 *
 * Usage: origins.ts <count>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const count = Number(process.argv[2] ?? '4');
const addresses: { host: string; port: number }[] = [];
for (let i = 0; i < count; i++) {
  const host = `127.0.0.${10 + i}`;
  const body = Buffer.from(`hello from ${host}\n`);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  addresses.push({ host, port: (server.address() as AddressInfo).port });
}
process.stdout.write(`${JSON.stringify(addresses)}\n`);
