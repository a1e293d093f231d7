/**
 * A literal reading of hb.dat lines for comparisons: deliberately independent of the
 * library's own parser, so the suite checks files, not our reading of them.
 */
import { readFileSync, statSync } from 'node:fs';

/** One `<ip> &ready=<u>&busy=<u>&lastseen=<s>&port=<u>` line, taken apart. */
export interface HbLine {
  readonly ip: string;
  readonly ready: number;
  readonly busy: number;
  readonly lastseen: number;
  readonly port: number;
  /** The line as written. */
  readonly text: string;
}

// Our FileStore adds `&state=…&age=…` to drained and disabled servers, and `&inrotationms=…`
// to every server whose record carries when it entered rotation (docs/interop.md).
const LINE = /^(\S+) &ready=(\d+)&busy=(\d+)&lastseen=(\d+)&port=(\d+)(?:&state=(?:draining|disabled)&age=\d+)?(?:&inrotationms=\d+)?$/;

/**
 * Parse a whole hb.dat written by mod_heartmonitor or FileStore; throws on any other line
 * shape. Lines starting with `#` are comments, as mod_lbmethod_heartbeat reads them (our
 * FileStore's first line, `# heartmonitor …`, is one).
 */
export function parseHbText(text: string, source: string): HbLine[] {
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${source}: last line has no newline: ${JSON.stringify(text)}`);
  return text
    .split('\n')
    .slice(0, -1)
    .filter((line) => !line.startsWith('#'))
    .map((line) => {
      const match = LINE.exec(line);
      if (match === null) throw new Error(`${source}: unexpected line ${JSON.stringify(line)}`);
      const [, ip = '', ready, busy, lastseen, port] = match;
      return { ip, ready: Number(ready), busy: Number(busy), lastseen: Number(lastseen), port: Number(port), text: line };
    });
}

/** Read and parse an hb.dat, with the file's mtime (ms). */
export function readHb(path: string): { lines: HbLine[]; mtimeMs: number; text: string } {
  const text = readFileSync(path, 'latin1');
  return { lines: parseHbText(text, path), mtimeMs: statSync(path).mtimeMs, text };
}

/** Lines by IP. */
export function byIp(lines: readonly HbLine[]): Map<string, HbLine> {
  return new Map(lines.map((line) => [line.ip, line]));
}
