/**
 * The baseline of the pick bench: what Apache's mod_lbmethod_heartbeat does for every
 * request (SPEC 1.6, 1.8). It opens and re-reads hb.dat, parses every line into a table
 * keyed by IP, then walks the balancer members, looking each one's host up in that table.
 *
 * Bench-only code, written to cost what Apache's reader costs (one file read, one parse of
 * every line, one walk of every member). The final draw is the library's exactly
 * proportional one instead of Apache's biased one, so the bench can assert that both
 * methods choose the same member for the same random number.
 */
import { readFileSync } from 'node:fs';

interface HbLine {
  ready: number;
  busy: number;
  lastseen: number;
}

/** One line of hb.dat as mod_heartmonitor writes it. */
export function apacheLine(ip: string, ready: number, busy: number, lastseen: number, port: number): string {
  return `${ip} &ready=${ready}&busy=${busy}&lastseen=${lastseen}&port=${port}\n`;
}

/** Re-read and parse `path`, walk `hosts` (member hosts, in member order), draw with `random`. */
export function apachePick(path: string, hosts: readonly string[], random: number): number | undefined {
  const servers = readServers(path);
  const weights = new Float64Array(hosts.length);
  let total = 0;
  for (let i = 0; i < hosts.length; i++) {
    const server = servers.get(hosts[i] ?? '');
    if (server === undefined || server.lastseen >= 10) continue;
    const weight = server.busy === 0 && server.ready > 0 ? Math.floor(server.ready / 4) : server.ready;
    weights[i] = weight;
    total += weight;
  }
  if (total <= 0) return undefined;
  let target = Math.floor(random * total);
  for (let i = 0; i < hosts.length; i++) {
    const weight = weights[i] ?? 0;
    if (target < weight) return i;
    target -= weight;
  }
  return undefined;
}

/** readfile_heartbeats(): every line `ip &k=v&…`, `#` comments and lines without a space skipped. */
function readServers(path: string): Map<string, HbLine> {
  const servers = new Map<string, HbLine>();
  for (const line of readFileSync(path, 'latin1').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.indexOf(' ');
    if (space === -1) continue;
    const fields = new Map<string, string>();
    for (const piece of line.slice(space + 1).split('&')) {
      if (piece === '') continue;
      const eq = piece.indexOf('=');
      fields.set((eq === -1 ? piece : piece.slice(0, eq)).toLowerCase(), eq === -1 ? '1' : piece.slice(eq + 1));
    }
    servers.set(line.slice(0, space), {
      ready: atoi(fields.get('ready')),
      busy: atoi(fields.get('busy')),
      lastseen: atoi(fields.get('lastseen')),
    });
  }
  return servers;
}

function atoi(text: string | undefined): number {
  const value = Number.parseInt(text ?? '0', 10);
  return Number.isNaN(value) ? 0 : value;
}
