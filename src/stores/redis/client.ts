/**
 * The few methods of a node-redis client (or cluster) this integration calls, as
 * structural types: `createClient()` and `createCluster()` results both fit, and the
 * core of the library never imports `redis`.
 * @module
 */

/** Options of EVAL / EVALSHA as node-redis takes them. */
export interface RedisEvalOptions {
  /** The keys the script touches (all in one hash slot on a cluster). */
  readonly keys: string[];
  /** The script's ARGV. */
  readonly arguments: string[];
}

/** Anything with node-redis's `error` event: a client, a cluster, a Sentinel client. */
export interface RedisErrorSource {
  /** Hear the connection's errors (one listener per client, shared by the stores and views on it). */
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Stop hearing them (the last store or view to close takes the listener off). */
  off(event: 'error', listener: (error: Error) => void): unknown;
}

/** What a store needs: scripts, and the `error` event (reported, so it never crashes the process). */
export interface RedisScriptClient extends RedisErrorSource {
  /** Run a loaded script by its SHA1 (`EVALSHA`). */
  evalSha(sha1: string, options: RedisEvalOptions): Promise<unknown>;
  /** Run a script's text (`EVAL`), after a node answered `NOSCRIPT`. */
  eval(script: string, options: RedisEvalOptions): Promise<unknown>;
}

/** A connection that receives shard-channel messages (made by a view with `duplicate()`). */
export interface RedisSubscriber {
  /** Open the connection. */
  connect(): Promise<unknown>;
  /** Subscribe to a shard channel (`SSUBSCRIBE`). */
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  /** Close the connection at once (the view's `close()`). */
  destroy(): void;
  /** Hear the connection's events (`error`, `ready`: a reconnect means messages may have been lost). */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Stop hearing them. */
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * A connection a view subscribes with when it is given one (the view's `subscriber`
 * option) instead of making its own: a Sentinel client (it subscribes on a connection of
 * its own), or a node-redis client kept for subscriptions. The view only subscribes and
 * unsubscribes; connecting and closing it stay the caller's.
 */
export interface RedisSharedSubscriber {
  /** Subscribe to a shard channel (`SSUBSCRIBE`) with `listener`. */
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  /** Take `listener` off the channel (`SUNSUBSCRIBE` when it was the last). */
  sUnsubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
}

/**
 * What a view needs: scripts for snapshots, and `duplicate()` to make its own subscriber
 * (a client without it, such as a Sentinel client, needs the view's `subscriber` option).
 */
export interface RedisViewClient extends RedisScriptClient {
  /** A new connection with the client's options (URL, credentials, TLS), for the view's subscriber. */
  duplicate?(): RedisSubscriber;
}

/** One `error` listener per client, shared by every store on it. */
interface ClientWatch {
  readonly listener: (error: Error) => void;
  readonly stores: Set<(error: Error) => void>;
}

const watches = new WeakMap<RedisErrorSource, ClientWatch>();

/**
 * Hear `client`'s `error` events through one listener per client, however many stores and
 * views share it (one listener each would pass Node's 10-listener warning with the 11th).
 * @returns a function that stops hearing them (the listener leaves with the last store)
 * @internal
 */
export function watchClientErrors(client: RedisErrorSource, onError: (error: Error) => void): () => void {
  let watch = watches.get(client);
  if (watch === undefined) {
    const stores = new Set<(error: Error) => void>();
    const listener = (error: Error): void => {
      for (const store of stores) store(error);
    };
    watch = { listener, stores };
    watches.set(client, watch);
    client.on('error', listener);
  }
  watch.stores.add(onError);
  const current = watch;
  return () => {
    current.stores.delete(onError);
    if (current.stores.size > 0 || watches.get(client) !== current) return;
    client.off('error', current.listener);
    watches.delete(client);
  };
}
