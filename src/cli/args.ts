/**
 * Argument handling shared by the CLI commands: node:util parseArgs with errors turned
 * into one-line usage errors, and strict number parsing.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The options a command declares: each a string or a boolean flag; `multiple` ones may repeat. */
export type CommandOptions = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;

/** One parsed value: a list for a `multiple` option. */
type CommandValue<T extends CommandOptions[string]> = (T['type'] extends 'boolean' ? boolean : string) extends infer V ? (T['multiple'] extends true ? V[] : V) : never;

/** Parsed values of {@link CommandOptions}, plus `--help`. */
export type CommandValues<O extends CommandOptions> = { [K in keyof O]?: CommandValue<O[K]> } & { help?: boolean };

/** parseArgs in strict mode; its errors become {@link UsageError}s. */
export function parseCommandArgs<O extends CommandOptions>(
  args: readonly string[],
  options: O,
  command: string,
): { values: CommandValues<O>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: joinNegativeValues(args, options), options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    // parseArgs messages are multi-line and mention internals; keep the first line.
    const message = (error as Error).message.split('\n')[0] ?? 'bad arguments';
    throw new UsageError(`${command}: ${message} (see heartmonitor ${command} --help)`);
  }
}

/**
 * parseArgs reads `--ready -3` as two options and calls it "ambiguous": pass a value that
 * looks like a negative number as `--ready=-3`, so the option's own check words the error.
 */
function joinNegativeValues(args: readonly string[], options: CommandOptions): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[0-9.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** Parse `--name value` as an integer in [min, max], or throw a {@link UsageError}. */
export function integerOption(command: string, name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    const negative = /^-[0-9]/.test(value) ? ' (negative numbers are not allowed)' : '';
    throw new UsageError(`${command}: --${name} must be an integer ${range}, got ${JSON.stringify(value)}${negative}`);
  }
  return Number(value);
}

/**
 * The shared secret in the file at `path`, trimmed (a trailing newline is not part of it).
 * Read from a file so the secret never shows in `ps` or the shell history.
 */
export function secretFileOption(command: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${command}: cannot read --secret-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const secret = text.trim();
  if (secret === '') throw new UsageError(`${command}: --secret-file ${path} is empty`);
  return secret;
}

/** Between `min` and `max` positional arguments, or throw a {@link UsageError}. */
export function positionals(command: string, values: readonly string[], min: number, max: number, what: string): string[] {
  if (values.length < min) throw new UsageError(`${command}: missing ${what} (see heartmonitor ${command} --help)`);
  if (values.length > max) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(values[max])} (see heartmonitor ${command} --help)`);
  return [...values];
}

/** An AbortSignal that fires on SIGINT or SIGTERM (the handlers are removed by `dispose`). */
export function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** Resolve after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
