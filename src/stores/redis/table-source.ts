/**
 * The read side of a shared table, free of any balancing: subscribe to the change channel,
 * take a snapshot, apply every change message in sequence on top of it, and take a new
 * snapshot whenever the sequence shows a gap (a reconnect, a restarted Redis, a lost
 * message). Ages are converted to this host's clock on arrival, so no two hosts' clocks
 * ever need to agree.
 *
 * A snapshot whose sequence number is below the last one applied comes from a Redis that
 * lost its data (a restart without persistence, a failover to a replica that was behind,
 * keys that expired): the servers it lacks are not known to have left, so they are kept,
 * aging by their last report, until a report or a removal of them arrives or the reader's
 * own timers expire them; later snapshots keep them too (that Redis never held them). Any
 * other absence is the truth: a server it held that a snapshot lacks has left.
 * @module
 */
import type { AdminState } from '../../balancer/server-state.js';
import { StoreError } from '../../errors.js';
import type { ServerStatus } from '../../protocol/server-status.js';
import type { RedisSharedSubscriber, RedisSubscriber, RedisViewClient } from './client.js';
import type { RedisTableKeys } from './keys.js';
import { decodeChanges, readChangeHeader, type ChangeVisitor } from './changes.js';
import { MAX_RECORD_LENGTH, parseFields, parseRecord, readCountsAfterIdentity, recordIdentity, type RecordCounts } from './record.js';
import { RedisScript, SNAPSHOT_SCRIPT, snapshotKeys } from './scripts.js';

/** One server as a source delivers it: the status with `lastSeen` on this host's clock. */
export interface SourceEntry {
  /** Table key. */
  readonly key: string;
  /** Last report; `lastSeen` is this host's wall time minus the report's age. */
  readonly status: ServerStatus;
  /** The monitor that reported it. */
  readonly monitor: string;
}

/** Where a source delivers the table. */
export interface TableSink {
  /**
   * A full snapshot. It replaces everything held before, except the servers in `kept`:
   * Redis lost them with its data, so they stay as they are (aging by their last report)
   * until a report or a removal of them arrives, or they expire.
   */
  reset(entries: readonly SourceEntry[], admin: ReadonlyMap<string, AdminState>, kept: ReadonlySet<string>): void;
  /** A newer report of one server (`status.lastSeen` on this host's clock). */
  put(key: string, status: ServerStatus, monitor: string): void;
  /** A server left the table. */
  remove(key: string): void;
  /** An administrative state was set (undefined: cleared). */
  admin(key: string, state: AdminState | undefined): void;
  /** The source became reachable or unreachable. */
  connection(up: boolean): void;
  /** A record or message was refused (counted by the source). */
  refused(reason: string): void;
}

/** Settings of a {@link RedisTableSource}. */
export interface TableSourceOptions {
  readonly client: RedisViewClient;
  /** A connection to subscribe with (the caller's); undefined: a `client.duplicate()` of the source's own. */
  readonly subscriber?: RedisSharedSubscriber | undefined;
  readonly keys: RedisTableKeys;
  /** This host's wall clock. */
  readonly now: () => number;
  /** ms between liveness probes (which also catch missed messages). */
  readonly probeInterval: number;
  /**
   * A probe or snapshot not answered within this many ms marks the source down; `open()`
   * (subscription and first snapshot) rejects after it.
   */
  readonly timeout: number;
  /** Most servers accepted; records beyond are refused. */
  readonly maxServers: number;
}

/** Counters of a source. */
export interface TableSourceStats {
  /** Whether the last probe or snapshot succeeded. */
  readonly connected: boolean;
  /** Full snapshots taken. */
  readonly snapshots: number;
  /** Change messages applied. */
  readonly messages: number;
  /** Records and messages refused (unparsable, without a report time, over the bound). */
  readonly refused: number;
  /** This host's time the source went down (undefined while up). */
  readonly downSince: number | undefined;
}

/**
 * What a source holds per key: the checked identity of its record, so the next report of
 * the server is compared, not checked again.
 */
interface Known {
  /** `ip TAB port TAB monitor TAB`: the record's identity, checked when it was first seen. */
  readonly identity: string;
  readonly ip: string;
  readonly port: number;
  readonly monitor: string;
  /** Text and parsed value of the extra fields (undefined: none). */
  fieldsText: string | undefined;
  fields: Readonly<Record<string, string>> | undefined;
}

const PROBE_SCRIPT = `return redis.call('GET', KEYS[1]) or '0'`;

/** Follows one shared table in Redis and feeds a {@link TableSink}. */
export class RedisTableSource {
  private readonly snapshotScript = new RedisScript(SNAPSHOT_SCRIPT);
  private readonly probeScript = new RedisScript(PROBE_SCRIPT);
  /** The source's own subscriber (none when the caller gave one). */
  private subscriber: RedisSubscriber | undefined;
  /** Ends the subscription on a connection the caller gave. */
  private unsubscribe: (() => void) | undefined;
  /** Sequence number of the last message applied (or of the snapshot). */
  private sequence = -1;
  /** While a snapshot is taken, messages wait here. */
  private buffered: string[] | undefined;
  private resyncRequested = false;
  /** The sequence a probe saw ahead of ours; still ahead at the next probe means messages were lost. */
  private probeAhead: number | undefined;
  /** Our sequence when that probe ran. */
  private sequenceAtProbe = -1;
  private probeTimer: NodeJS.Timeout | undefined;
  /** The probe command still waiting for Redis (a frozen Redis gets one, not one per interval). */
  private probing: Promise<unknown> | undefined;
  private closed = false;
  /** Per key: the time of the report held (newest wins) and its record, text and parsed (a repeated text is not parsed again). */
  private readonly known = new Map<string, Known>();
  /** Servers held from before Redis lost its data, that it has not reported since (kept by every snapshot). */
  private readonly unconfirmed = new Set<string>();
  private counts = { snapshots: 0, messages: 0, refused: 0 };
  /** The time of the message being applied (this host's clock). */
  private receivedAt = 0;
  /** Counts of the record read last (kept here: reading a record allocates nothing when its identity is known). */
  private readonly scratch: RecordCounts = { ready: 0, busy: 0, inRotationMs: Number.NaN, fieldsAt: -1 };
  private readonly visitor: ChangeVisitor = {
    put: (key, age, message, start, end) => this.putRecord(key, message, start, end, this.receivedAt - age),
    remove: (key) => {
      this.unconfirmed.delete(key);
      if (this.known.delete(key)) this.sink.remove(key);
    },
    admin: (key, state) => this.sink.admin(key, state),
    refused: (reason) => this.refuse(reason),
  };
  private downSince: number | undefined;

  constructor(
    private readonly options: TableSourceOptions,
    private readonly sink: TableSink,
  ) {}

  /**
   * Subscribe, take the first snapshot and start probing. Rejects (and leaves nothing
   * behind: the subscriber is destroyed) when that is not done within `timeout` or Redis
   * refuses it.
   */
  async open(): Promise<void> {
    const { timeout, keys } = this.options;
    const opening = this.subscribe().then(() => this.resync(true));
    try {
      await withTimeout(opening, timeout);
    } catch (cause) {
      // The attempt may still settle after the deadline: nobody waits for it any more.
      opening.catch(() => undefined);
      this.close();
      const timedOut = cause instanceof Error && cause.message === timeoutMessage(timeout);
      throw new StoreError(
        timedOut
          ? `Cannot attach to Redis table ${keys.servers}: no subscription and first snapshot within ${timeout} ms (the view's \`timeout\`); retry when Redis answers`
          : `Cannot attach to Redis table ${keys.servers}`,
        { cause },
      );
    }
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeInterval).unref();
  }

  /** Stop probing and drop the subscription (a subscriber of the source's own is destroyed). */
  close(): void {
    this.closed = true;
    clearInterval(this.probeTimer);
    this.subscriber?.destroy();
    this.subscriber = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * The client reported an error (a dropped or refused connection): the source is down
   * until a probe or snapshot is answered again.
   */
  fault(): void {
    this.markDown();
  }

  /** Counters and connection state. */
  stats(): TableSourceStats {
    return { connected: this.downSince === undefined, ...this.counts, downSince: this.downSince };
  }

  /** Forget a server the reader expired by its own clock (a later report brings it back). */
  forget(key: string): void {
    this.known.delete(key);
    this.unconfirmed.delete(key);
  }

  /** Subscribe to the change channel, on a connection of the caller's or on a duplicate of the client. */
  private async subscribe(): Promise<void> {
    const channel = this.options.keys.changes;
    const listener = (message: string): void => this.receive(message);
    const given = this.options.subscriber;
    if (given !== undefined) {
      // A connection that is not ours tells us nothing of its reconnects: messages it missed
      // show as gaps, to probes, and a source back from an outage resynchronises (markUp).
      this.unsubscribe = () => void given.sUnsubscribe(channel, listener).catch(() => undefined);
      await given.sSubscribe(channel, listener);
      return;
    }
    const { client } = this.options;
    if (client.duplicate === undefined) throw new TypeError('Expected `subscriber` when the client has no duplicate()');
    const subscriber = client.duplicate();
    this.subscriber = subscriber;
    // Reconnects are followed by probes and snapshots; the error itself is only state.
    subscriber.on('error', () => this.markDown());
    subscriber.on('ready', () => {
      if (this.sequence >= 0) void this.resync();
    });
    await subscriber.connect();
    // Closed (or given up on) while connecting: close() has destroyed it already.
    if (this.closed) return;
    await subscriber.sSubscribe(channel, listener);
  }

  /** Take a full snapshot now and apply the messages that arrive meanwhile on top of it. */
  async resync(strict = false): Promise<void> {
    if (this.closed) return;
    if (this.buffered !== undefined) {
      this.resyncRequested = true;
      return;
    }
    this.buffered = [];
    try {
      const reply = await withTimeout(this.snapshotScript.run(this.options.client, snapshotKeys(this.options.keys), []), this.options.timeout);
      if (this.closed) return;
      const receivedAt = this.options.now();
      this.applySnapshot(reply, receivedAt);
      this.markUp();
    } catch (error) {
      this.buffered = undefined;
      this.markDown();
      if (strict) throw error;
      return;
    }
    const waiting = this.buffered;
    this.buffered = undefined;
    for (const message of waiting) this.receive(message);
    if (this.resyncRequested) {
      this.resyncRequested = false;
      await this.resync();
    }
  }

  private receive(message: string): void {
    if (this.closed) return;
    if (this.buffered !== undefined) {
      this.buffered.push(message);
      return;
    }
    const header = readChangeHeader(message);
    if (header === undefined) {
      this.refuse('change message without a valid header');
      return;
    }
    const { sequence } = header;
    if (sequence <= this.sequence) return; // already in the snapshot
    if (sequence !== this.sequence + 1) {
      void this.resync();
      return;
    }
    this.sequence = sequence;
    this.counts.messages++;
    // One clock reading per message: every report in it is `age` ms older than its arrival.
    // Newest-wins was decided by the script that published it (on the Redis node's clock), so
    // every report in an in-sequence message is applied: comparing ages again here, with
    // transit jitter, would drop a monitor's rewrite of the same heartbeat.
    this.receivedAt = this.options.now();
    decodeChanges(message, header.bodyAt, this.visitor);
  }

  /** Apply the record in `text[start, end)`; `seenAt` is its time on this host's clock. */
  private putRecord(key: string, text: string, start: number, end: number, seenAt: number): void {
    const known = this.known.get(key);
    if (known === undefined && this.known.size >= this.options.maxServers) {
      this.refuse(`more than maxServers (${this.options.maxServers}) servers`);
      return;
    }
    const read = this.readRecord(key, text, start, end, known);
    if (typeof read === 'string') {
      this.refuse(read);
      return;
    }
    if (read !== known) this.known.set(key, read);
    this.unconfirmed.delete(key);
    this.sink.put(key, toStatus(read, this.scratch, seenAt), read.monitor);
  }

  /**
   * Read the record in `text[start, end)` of `key`. When it has the identity of the record
   * held (`known`), only the counts and fields are read and `known` is updated in place;
   * otherwise the whole record is parsed and checked.
   * @returns the entry to hold, or a reason the record was refused
   */
  private readRecord(key: string, text: string, start: number, end: number, known: Known | undefined): Known | string {
    if (end - start > MAX_RECORD_LENGTH) return `record longer than ${MAX_RECORD_LENGTH} characters`;
    if (known !== undefined && text.startsWith(known.identity, start)) {
      const counts = this.scratch;
      const refused = readCountsAfterIdentity(text, start + known.identity.length, end, counts);
      if (refused !== undefined) return refused;
      if (counts.fieldsAt < 0) {
        known.fieldsText = undefined;
        known.fields = undefined;
      } else {
        const length = end - counts.fieldsAt;
        const same = known.fieldsText !== undefined && known.fieldsText.length === length && text.startsWith(known.fieldsText, counts.fieldsAt);
        if (!same) {
          const fieldsText = text.slice(counts.fieldsAt, end);
          const fields = parseFields(fieldsText);
          if (typeof fields === 'string') return fields;
          known.fieldsText = fieldsText;
          known.fields = fields;
        }
      }
      return known;
    }
    const recordText = start === 0 && end === text.length ? text : text.slice(start, end);
    const record = parseRecord(key, recordText);
    if (typeof record === 'string') return record;
    const { ip, port, monitor, fields } = record;
    this.scratch.ready = record.ready;
    this.scratch.busy = record.busy;
    this.scratch.inRotationMs = record.inRotationMs ?? Number.NaN;
    // The fields' text is not kept: the next report with fields parses them once more.
    return { identity: recordIdentity(record), ip, port, monitor, fieldsText: undefined, fields };
  }

  private applySnapshot(reply: unknown, receivedAt: number): void {
    if (!Array.isArray(reply) || reply.length !== 5) throw new Error('unexpected snapshot reply');
    const [nowText, sequenceText, records, seen, admin] = reply as unknown[];
    const redisNow = Number(nowText);
    const sequence = Number(sequenceText);
    if (!Number.isFinite(redisNow) || !Number.isInteger(sequence) || !Array.isArray(records) || !Array.isArray(seen) || !Array.isArray(admin)) {
      throw new Error('unexpected snapshot reply');
    }
    const seenByKey = new Map<string, number>();
    for (let i = 0; i + 1 < seen.length; i += 2) seenByKey.set(String(seen[i]), Number(seen[i + 1]));
    // The sequence went back: this Redis lost the table the view followed (see the module
    // comment). A gap forward is only missed messages: then what the snapshot lacks has left.
    const lost = sequence < this.sequence;
    const entries: SourceEntry[] = [];
    const previous = new Map(this.known);
    this.known.clear();
    for (let i = 0; i + 1 < records.length; i += 2) {
      const key = String(records[i]);
      const reportedAt = seenByKey.get(key);
      // The scripts write a record and its time together and the snapshot reads both at
      // once, so a record without one was not written by a monitor.
      if (reportedAt === undefined || !Number.isFinite(reportedAt)) {
        this.refuse('record without a report time in the seen set');
        continue;
      }
      if (entries.length >= this.options.maxServers) {
        this.refuse(`more than maxServers (${this.options.maxServers}) servers`);
        break;
      }
      const text = String(records[i + 1]);
      const read = this.readRecord(key, text, 0, text.length, previous.get(key));
      if (typeof read === 'string') {
        this.refuse(read);
        continue;
      }
      const lastSeen = receivedAt - Math.max(0, redisNow - reportedAt);
      this.known.set(key, read);
      entries.push({ key, status: toStatus(read, this.scratch, lastSeen), monitor: read.monitor });
    }
    const states = new Map<string, AdminState>();
    for (let i = 0; i + 1 < admin.length; i += 2) {
      const state: unknown = admin[i + 1];
      if (state === 'draining' || state === 'disabled') states.set(String(admin[i]), state);
      else this.refuse('admin entry with an unknown state');
    }
    // Kept: what Redis lost now, and what it lost before and has not reported since.
    const kept = new Set<string>();
    for (const [key, known] of previous) {
      if (this.known.has(key) || !(lost || this.unconfirmed.has(key))) continue;
      if (this.known.size >= this.options.maxServers) break;
      this.known.set(key, known);
      kept.add(key);
    }
    this.unconfirmed.clear();
    for (const key of kept) this.unconfirmed.add(key);
    this.sequence = sequence;
    this.probeAhead = undefined;
    this.counts.snapshots++;
    this.sink.reset(entries, states, kept);
  }

  /** Liveness, and missed messages: the sequence in Redis may not stay ahead of ours. */
  private async probe(): Promise<void> {
    if (this.probing !== undefined || this.closed) return;
    // Messages applied while the probe is on its way move our sequence past what it read:
    // only a value below the sequence we had when sending it means Redis went back.
    const sentAt = this.sequence;
    const command = this.probeScript.run(this.options.client, [this.options.keys.sequence], []);
    const settled = (): void => {
      this.probing = undefined;
    };
    this.probing = command.then(settled, settled);
    try {
      const reply = await withTimeout(command, this.options.timeout);
      // Coming back from a timeout alone needs no snapshot: a stalled Redis (or a busy view)
      // loses no message while the subscriber stays connected; a dropped subscriber
      // resynchronises on its `ready`, and gaps show in the sequence. A connection of the
      // caller's (`subscriber`) may have dropped and come back unseen, losing messages: after
      // an outage it takes one snapshot, the same one a Redis that went back needs.
      const wasDown = this.downSince !== undefined;
      this.markUp();
      const latest = Number(reply);
      // A view with a backlog lags but moves on (and a gap shows on its next message); one
      // that stood still since Redis was seen ahead missed the last message(s).
      const stoodStill = this.probeAhead !== undefined && this.sequence === this.sequenceAtProbe && this.sequence < this.probeAhead;
      if (latest < sentAt || stoodStill || (wasDown && this.options.subscriber !== undefined)) await this.resync();
      else {
        this.probeAhead = latest > this.sequence ? latest : undefined;
        this.sequenceAtProbe = this.sequence;
      }
    } catch {
      this.markDown();
    }
  }

  private markDown(): void {
    if (this.downSince !== undefined || this.closed) return;
    this.downSince = this.options.now();
    this.sink.connection(false);
  }

  private markUp(): void {
    if (this.downSince === undefined) return;
    this.downSince = undefined;
    this.sink.connection(true);
  }

  private refuse(reason: string): void {
    this.counts.refused++;
    this.sink.refused(reason);
  }
}

/**
 * The status a view holds: `lastSeen` on this host's clock, and the time the monitor put
 * the server into rotation on the same clock (`lastSeen` minus the ms the record carries).
 */
function toStatus(known: Known, counts: RecordCounts, lastSeen: number): ServerStatus {
  const { ip, port, fields } = known;
  const { ready, busy, inRotationMs } = counts;
  // One object per report (this runs for every report a view applies).
  if (Number.isNaN(inRotationMs)) return fields === undefined ? Object.freeze({ ip, port, ready, busy, lastSeen }) : Object.freeze({ ip, port, ready, busy, lastSeen, fields });
  const inRotationSince = lastSeen - inRotationMs;
  return fields === undefined ? Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince }) : Object.freeze({ ip, port, ready, busy, lastSeen, inRotationSince, fields });
}

/** `promise`, or a rejection after `ms` (the promise itself keeps running). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(timeoutMessage(ms))), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function timeoutMessage(ms: number): string {
  return `Redis did not answer within ${ms} ms`;
}
