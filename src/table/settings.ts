/**
 * The settings a server table is read with — `staleAfter`, `expireAfter`, `warmupDivisor`
 * and `keyBy` — with their defaults (Apache's, SPEC 1.4 and 1.8) and their checks. The
 * monitor, the stores, the pure `pickBackend` and every view take them from here, so a
 * default or a limit is written once.
 * @module
 */
import type { KeyBy } from '../protocol/server-status.js';
import { expectInteger, expectKeyBy, expectNumber } from '../validate.js';

/** How a table is read: when servers go stale and expire, the weight rule, the identity. */
export interface TableSettings {
  /** Never pick servers whose last heartbeat is this many ms old. */
  readonly staleAfter: number;
  /** Leave out servers whose last heartbeat is this many ms old. */
  readonly expireAfter: number;
  /** Warm-up divisor of the weight rule (busy = 0 → ready / divisor). */
  readonly warmupDivisor: number;
  /** How members are matched to servers. */
  readonly keyBy: KeyBy;
}

/** Apache ignores servers whose lastseen is 10 s or more. */
export const DEFAULT_STALE_AFTER = 10_000;
/** A server not seen for more than 30 s is removed, and left out of hb.dat (SPEC 1.4). */
export const DEFAULT_EXPIRE_AFTER = 30_000;
/** A server with busy = 0 gets ready / 4: it probably just started. */
export const DEFAULT_WARMUP_DIVISOR = 4;
/** Apache keys servers by source IP. */
export const DEFAULT_KEY_BY: KeyBy = 'ip';

/** Every table setting at its default. */
export const TABLE_DEFAULTS: TableSettings = Object.freeze({
  staleAfter: DEFAULT_STALE_AFTER,
  expireAfter: DEFAULT_EXPIRE_AFTER,
  warmupDivisor: DEFAULT_WARMUP_DIVISOR,
  keyBy: DEFAULT_KEY_BY,
});

/** The SlotStore header keeps the divisor in an Int32. */
const MAX_WARMUP_DIVISOR = 2 ** 31 - 1;

/** Table settings as an options bag gives them: any may be missing, none is trusted. */
export type TableSettingsInput = { readonly [K in keyof TableSettings]?: unknown };

/**
 * Check the settings given and fill in the defaults (`fallback`, Apache's unless a caller
 * has other ones); throws TypeError/RangeError naming the option. A server must go stale
 * before it expires: the other order would pick servers already removed from the table.
 * `undefined` takes the default; `null` is a mistake and is reported.
 */
export function resolveTableSettings(options: TableSettingsInput, fallback: TableSettings = TABLE_DEFAULTS): TableSettings {
  const overrides = checkTableOverrides(options);
  const staleAfter = overrides.staleAfter ?? fallback.staleAfter;
  const expireAfter = overrides.expireAfter ?? fallback.expireAfter;
  if (expireAfter < staleAfter) throw new RangeError(`Expected \`expireAfter\` (${expireAfter}) to be at least \`staleAfter\` (${staleAfter})`);
  return { staleAfter, expireAfter, warmupDivisor: overrides.warmupDivisor ?? fallback.warmupDivisor, keyBy: overrides.keyBy ?? fallback.keyBy };
}

/** Check the settings given, without defaults: a view takes the rest from its data. */
export function checkTableOverrides(options: TableSettingsInput): Partial<TableSettings> {
  const { staleAfter, expireAfter, warmupDivisor, keyBy } = options;
  return {
    ...(staleAfter === undefined ? {} : { staleAfter: expectNumber('staleAfter', staleAfter, 1) }),
    ...(expireAfter === undefined ? {} : { expireAfter: expectNumber('expireAfter', expireAfter, 1) }),
    ...(warmupDivisor === undefined ? {} : { warmupDivisor: expectInteger('warmupDivisor', warmupDivisor, 1, MAX_WARMUP_DIVISOR) }),
    ...(keyBy === undefined ? {} : { keyBy: expectKeyBy('keyBy', keyBy) }),
  };
}

/** Whether two sets of table settings read a table the same way. */
export function sameTableSettings(a: TableSettings, b: TableSettings | undefined): boolean {
  return b !== undefined && a.staleAfter === b.staleAfter && a.expireAfter === b.expireAfter && a.warmupDivisor === b.warmupDivisor && a.keyBy === b.keyBy;
}

/** `settings` with each of `overrides` that is given in its place. */
export function withOverrides(settings: TableSettings, overrides: Partial<TableSettings>): TableSettings {
  return {
    staleAfter: overrides.staleAfter ?? settings.staleAfter,
    expireAfter: overrides.expireAfter ?? settings.expireAfter,
    warmupDivisor: overrides.warmupDivisor ?? settings.warmupDivisor,
    keyBy: overrides.keyBy ?? settings.keyBy,
  };
}

/** The settings' names, in the order messages and the hb.dat settings line give them. */
export const TABLE_SETTING_NAMES: readonly (keyof TableSettings)[] = ['keyBy', 'staleAfter', 'expireAfter', 'warmupDivisor'];

/**
 * A store built with settings of its own (`explicit`) is handed a monitor's (`wanted`):
 * each one given on both must agree, or the views of the store would balance differently
 * from the monitor. Throws a RangeError naming the first that differs and both values.
 * @param store - the store's name in the message (`SlotStore`, `FileStore`)
 */
export function checkSameSettings(store: string, explicit: Partial<TableSettings>, wanted: TableSettings): void {
  for (const name of TABLE_SETTING_NAMES) {
    const own = explicit[name];
    if (own === undefined || own === wanted[name]) continue;
    throw new RangeError(
      `Expected the ${store}'s \`${name}\` (${JSON.stringify(own)}) to match the monitor's \`${name}\` (${JSON.stringify(wanted[name])}): ` +
        `give it once, to the HeartMonitor (its store and the store's views take the monitor's settings)`,
    );
  }
}
