/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and must not be forwarded;
 * undici also refuses several of them (`connection`, `keep-alive`, `transfer-encoding`,
 * `upgrade`), so a proxy that passes an incoming request's headers on would fail.
 * @module
 */

/** Header names that never cross a proxy, lower case. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Header values as undici and node:http carry them. */
export type HeaderValue = string | number | readonly string[] | undefined | null;

/** Request headers in any shape undici accepts: an object, a flat `[name, value, …]` array, or `[name, value]` pairs. */
export type HeadersInput =
  | Readonly<Record<string, HeaderValue>>
  | readonly (string | Buffer)[]
  | Iterable<readonly [string, string | readonly string[] | undefined]>
  | null
  | undefined;

/**
 * The end-to-end headers of `headers` as a plain object: hop-by-hop headers removed, and
 * the headers the `connection` header lists. Values are kept as they are (repeated
 * names are merged into arrays).
 *
 * @param headers - request headers in any undici shape
 */
export function endToEndHeaders(headers: HeadersInput): Record<string, string | string[]> {
  const pairs = headerPairs(headers);
  const listed = new Set<string>();
  for (const [name, value] of pairs) {
    if (name.toLowerCase() !== 'connection') continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      for (const token of String(item).split(',')) listed.add(token.trim().toLowerCase());
    }
  }
  const result: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || listed.has(lower)) continue;
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    const previous = result[lower];
    if (previous === undefined) result[lower] = values.length === 1 ? (values[0] as string) : values;
    else result[lower] = [...(Array.isArray(previous) ? previous : [previous]), ...values];
  }
  return result;
}

type Pair = readonly [string, string | number | readonly string[]];

function headerPairs(headers: HeadersInput): Pair[] {
  const pairs: Pair[] = [];
  if (headers === null || headers === undefined) return pairs;
  if (Array.isArray(headers) && (headers.length === 0 || !Array.isArray(headers[0]))) {
    // Flat [name, value, name, value, …], possibly as Buffers (undici's raw headers).
    const flat = headers as readonly (string | Buffer)[];
    for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([String(flat[i]), String(flat[i + 1])]);
    return pairs;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<readonly [string, string | readonly string[] | undefined]>) {
      if (value !== undefined) pairs.push([name, value]);
    }
    return pairs;
  }
  for (const [name, value] of Object.entries(headers as Readonly<Record<string, HeaderValue>>)) {
    if (value !== undefined && value !== null) pairs.push([name, value]);
  }
  return pairs;
}
