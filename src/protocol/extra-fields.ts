/**
 * Which extra heartbeat fields (beyond `v`, `ready`, `busy`, `port`) a server's status may
 * carry. The same rule holds wherever fields enter a table — a heartbeat, an hb.dat line,
 * a Redis record — so every view of one table holds the same fields, and nothing a field
 * holds can break a terminal table, a log line, a page or a record.
 * @module
 */

/** Most extra fields a status carries; fields beyond it are left out. */
export const MAX_EXTRA_FIELDS = 32;

// Control characters (C0 with tab, DEL, C1), line and paragraph separators, zero-width and
// bidi controls, BOM: text without them is safe in a terminal table, a log line or a page
// (escaped), and cannot split a record or a change message.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/;

const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'g');

/**
 * `text` with every control, format or separator character written as a `\uXXXX` escape:
 * safe to print on a terminal (JSON.stringify escapes C0 only; C1's CSI, bidi controls
 * and line separators would still act on a terminal).
 */
export function escapeUnprintable(text: string): string {
  return text.replace(UNPRINTABLE_ALL, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether `text` holds no control, format or separator character (see above). */
export function isPrintableText(text: string): boolean {
  return !UNPRINTABLE.test(text);
}

/**
 * The fields of `entries` a status may carry (frozen), or undefined when none are left:
 * names and values must be printable, `skip` names fields never kept (a signature), and
 * at most {@link MAX_EXTRA_FIELDS} are kept, in order. A heartbeat with other fields is
 * still valid (Apache ignores unknown fields): only those fields are left out.
 * @internal
 */
export function keptFields(entries: Iterable<readonly [string, string]>, skip?: ReadonlySet<string>): Readonly<Record<string, string>> | undefined {
  let kept: Record<string, string> | undefined;
  let count = 0;
  for (const [name, value] of entries) {
    if (skip?.has(name) === true || !isPrintableText(name) || !isPrintableText(value)) continue;
    if (kept !== undefined && Object.hasOwn(kept, name)) {
      kept[name] = value;
      continue;
    }
    if (count === MAX_EXTRA_FIELDS) continue;
    // A plain object with a null prototype would surprise users; defineProperty keeps a
    // field named `__proto__` an own field instead of setting the prototype.
    Object.defineProperty((kept ??= {}), name, { value, enumerable: true, writable: true, configurable: true });
    count++;
  }
  return kept === undefined ? undefined : Object.freeze(kept);
}
