/**
 * The few methods of a node-redis client (or cluster) this integration calls, as
 * structural types: `createClient()` and `createCluster()` results both fit, and the
 * core of the library never imports `redis`.
 * @module
 */

/** Options of EVAL / EVALSHA as node-redis takes them. */
export interface RedisEvalOptions {
  readonly keys: string[];
  readonly arguments: string[];
}

/** What a store needs: scripts, and the `error` event (reported, so it never crashes the process). */
export interface RedisScriptClient {
  evalSha(sha1: string, options: RedisEvalOptions): Promise<unknown>;
  eval(script: string, options: RedisEvalOptions): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

/** A connection that receives shard-channel messages (made by a view with `duplicate()`). */
export interface RedisSubscriber {
  connect(): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  destroy(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** What a view needs: scripts for snapshots, `duplicate()` for its subscriber. */
export interface RedisViewClient extends RedisScriptClient {
  duplicate(): RedisSubscriber;
}
