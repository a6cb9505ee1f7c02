import { isNoScript, type RedisAdapter } from "./adapter.js";
import { WriteRefusedError } from "./errors.js";
import { RULES, type EntityName, type EntityRecords } from "./generated/rules.js";
import { WRITE_RECORD_LUA, WRITE_RECORD_SHA1 } from "./generated/script.js";
import { checkWrite, encodeFields, encodeStamp, rulesOf, showId, type EncodedWrite, type ExtraFields, type Stamp, type WriteCondition, type WriteMode } from "./validate.js";
import type { TimeInput } from "./values.js";

/** The default key prefix (NexusArchive's `Archive:KeyPrefix`). */
export const DEFAULT_KEY_PREFIX = "nexus";

const KEY_PREFIX = /^(?=.{1,64}$)[A-Za-z0-9_.-]*(\{[A-Za-z0-9_.-]+\})?[A-Za-z0-9_.-]*$/;

/** A whole record of an entity, plus fields the archive does not map (`extra`). */
export type RecordInput<E extends EntityName> = EntityRecords[E] & ExtraFields;

/** Only what changes: the id and any other fields. */
export type PatchInput<E extends EntityName> = Pick<EntityRecords[E], "id"> & Partial<EntityRecords[E]> & ExtraFields;

export interface WriteOptions {
  /** `"merge"` (default): set these fields, keep the others. `"replace"`: the hash becomes exactly these fields. */
  mode?: WriteMode;
  /** The record's `updatedAt` (its change-index score): `"*"` (default) stamps it from the Redis server clock. */
  stamp?: Stamp;
  /** `"always"` (default), or `"if-newer"`: skip when Redis already holds this version or a newer one. */
  condition?: WriteCondition;
}

export interface WriteResult {
  /** False when `if-newer` skipped the write. */
  written: boolean;
  /** Epoch ms: the record's `updatedAt` after the write (the current one when skipped). */
  updatedAt: number;
}

/** Where a record stands against the archive (`nexus:archive:checkpoint:{entity}`, the mirror NexusArchive writes). */
export interface ArchiveStatus {
  archived: boolean;
  /**
   * `archived`: its score is at or below the checkpoint mirror and it is not waiting in the late set;
   * `pending`: written after the checkpoint; `late`: in the late set, archived by the next pass;
   * `no-checkpoint`: no pass has archived this entity yet; `not-in-redis`: not in the change index (never written,
   * removed, or offloaded: see {@link ArchiveWriter.offloadedAt}).
   */
  state: "archived" | "pending" | "late" | "no-checkpoint" | "not-in-redis";
  /** The record's change-index score (epoch ms), or null. */
  updatedAt: number | null;
  /** The checkpoint mirror (epoch ms), or null. */
  checkpoint: number | null;
}

export interface ArchiveWriterOptions {
  /** The Redis client, adapted: {@link fromIoredis} or {@link fromUpstash}. */
  redis: RedisAdapter;
  /**
   * NexusArchive's `Archive:KeyPrefix` (default `nexus`): 1–64 letters, digits, `_ . -`, with at most one hash tag such
   * as `{nexus}` (required on Redis Cluster, so the five keys of a write share one slot).
   */
  keyPrefix?: string;
}

/**
 * The shard of a record id among `count` shards, as the Lua writer and NexusArchive compute it (docs/scaling.md):
 * `h = (h * 31 + byte) mod (2^31 - 1)` over the id's UTF-8 bytes from `h = 0`, then `h mod count`.
 */
export function shardOf(id: string, count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    throw new RangeError(`shard count ${count} must be an integer from 1 to 256`);
  }
  let h = 0;
  const add = (byte: number) => {
    h = (h * 31 + byte) % 2147483647;
  };
  // The id's UTF-8 bytes, as the Redis client sends them (a lone surrogate goes out as U+FFFD), without TextEncoder,
  // which the package's target libraries do not declare.
  for (const char of id) {
    let cp = char.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) {
      add(cp);
    } else if (cp < 0x800) {
      add(0xc0 | (cp >> 6)); add(0x80 | (cp & 63));
    } else if (cp < 0x10000) {
      add(0xe0 | (cp >> 12)); add(0x80 | ((cp >> 6) & 63)); add(0x80 | (cp & 63));
    } else {
      add(0xf0 | (cp >> 18)); add(0x80 | ((cp >> 12) & 63)); add(0x80 | ((cp >> 6) & 63)); add(0x80 | (cp & 63));
    }
  }
  return h % count;
}

/** The last part of a change stream's keys: the entity, or `{message.3of4}` for a shard (a Redis Cluster hash tag). */
function streamName(entity: EntityName, id: string, count: number): string {
  return count > 1 ? `{${entity}.${shardOf(id, count)}of${count}}` : entity;
}

/** The five keys of a write, in the script's order (the script itself moves a sharded entity's four to its shard). */
export function writeKeys(keyPrefix: string, entity: EntityName, id: string): [string, string, string, string, string] {
  return [
    `${keyPrefix}:${entity}:${id}`,
    `${keyPrefix}:changes:${entity}`,
    `${keyPrefix}:writes:${entity}`,
    `${keyPrefix}:archive:horizon:${entity}`,
    `${keyPrefix}:late:${entity}`,
  ];
}

/**
 * NexusChat's writer for the NexusArchive contract (docs/redis-layout.md): every write goes through `write-record.lua`,
 * checked here first with the script's own rules.
 */
export class ArchiveWriter {
  readonly keyPrefix: string;
  private readonly redis: RedisAdapter;
  private scriptCached = false;

  constructor(options: ArchiveWriterOptions) {
    if (!options || !options.redis) {
      throw new TypeError("ArchiveWriter needs { redis }: fromIoredis(client) or fromUpstash(client).");
    }
    const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (!KEY_PREFIX.test(keyPrefix)) {
      throw new TypeError(
        `keyPrefix '${keyPrefix}' is invalid: use 1-64 letters, digits, '_', '.' or '-', with at most one hash tag such as '{nexus}' (no ':' or glob characters).`);
    }
    this.redis = options.redis;
    this.keyPrefix = keyPrefix;
  }

  /**
   * Writes a whole record (a new one, or `mode: "replace"`): every required field is present, so the type checks it.
   * Throws {@link WriteRefusedError} for what the contract refuses, before sending when it can tell.
   */
  write<E extends EntityName>(entity: E, record: RecordInput<E>, options?: WriteOptions): Promise<WriteResult> {
    return this.send(entity, record as unknown as Readonly<Record<string, unknown>> & ExtraFields, options ?? {});
  }

  /** Edits an existing record: sends only the fields given (`merge`). A merge into a record Redis lacks is refused. */
  update<E extends EntityName>(entity: E, patch: PatchInput<E>, options?: Omit<WriteOptions, "mode">): Promise<WriteResult> {
    return this.send(entity, patch as unknown as Readonly<Record<string, unknown>> & ExtraFields, { ...options, mode: "merge" });
  }

  /** Soft-deletes a record: `deletedAt` = `at` (default now). It is archived with `deleted_at` set; nothing is removed. */
  softDelete(entity: EntityName, id: string, options?: { at?: TimeInput; stamp?: Stamp }): Promise<WriteResult> {
    return this.send(entity, { id, deletedAt: options?.at ?? Date.now() }, { mode: "merge", stamp: options?.stamp });
  }

  /** Undeletes a record: `deletedAt` = `""`; the newer version is archived with `deleted_at` back to NULL. */
  undelete(entity: EntityName, id: string, options?: { stamp?: Stamp }): Promise<WriteResult> {
    return this.send(entity, { id, deletedAt: null }, { mode: "merge", stamp: options?.stamp });
  }

  /**
   * Whether NexusArchive holds this version of the record: its change-index score is at or below the checkpoint mirror
   * and it is not in the late set. One round trip of three reads (GET, ZSCORE, ZSCORE), issued in an order whose races
   * can only answer "not yet". A record that was dead-lettered is below the mirror but not archived (see the archive's
   * `dead-letters list`); a record of an offloaded session is archived but no longer in Redis ({@link offloadedAt}).
   */
  async isArchived(entity: EntityName, id: string): Promise<boolean> {
    return (await this.archiveStatus(entity, id)).archived;
  }

  /** {@link isArchived}, with the reason and the two numbers compared. */
  async archiveStatus(entity: EntityName, id: string): Promise<ArchiveStatus> {
    rulesOf(entity);
    const p = this.keyPrefix;
    // The change stream that holds the id: its shard under the current layout, else (while a reshard drains) the
    // unsharded stream or the shard of the count being drained (docs/scaling.md).
    const layout = await this.redis.hgetall(`${p}:archive:shards`);
    const count = Number(layout[entity] ?? "1");
    const draining = Number(layout[`${entity}:draining`] ?? "1");
    const streams = [...new Set([streamName(entity, id, count), entity, streamName(entity, id, draining)])];
    let stream = streams[0]!;
    for (const candidate of streams) {
      if ((await this.redis.zscore(`${p}:changes:${candidate}`, id)) !== null) {
        stream = candidate;
        break;
      }
    }
    // The checkpoint first: a pass that moves it meanwhile, or a write that moves the score, can only make this say "not yet".
    const [checkpointText, scoreText, lateText] = await Promise.all([
      this.redis.get(`${p}:archive:checkpoint:${stream}`),
      this.redis.zscore(`${p}:changes:${stream}`, id),
      this.redis.zscore(`${p}:late:${stream}`, id),
    ]);
    const checkpoint = toNumber(checkpointText);
    const updatedAt = toNumber(scoreText);
    const state: ArchiveStatus["state"] =
      updatedAt === null ? "not-in-redis"
        : checkpoint === null ? "no-checkpoint"
          : updatedAt > checkpoint ? "pending"
            : lateText !== null ? "late"
              : "archived";
    return { archived: state === "archived", state, updatedAt, checkpoint };
  }

  /**
   * The chat sessions of a user that NexusArchive offloaded to cold storage (`{prefix}:offloaded:{userId}`): session id →
   * epoch ms when it left Redis. Open one through the archive's restore endpoint, or read it from PostgreSQL.
   */
  async offloadedSessions(userId: string): Promise<Map<string, number>> {
    const hash = await this.redis.hgetall(`${this.keyPrefix}:offloaded:${userId}`);
    return new Map(Object.entries(hash).map(([session, at]) => [session, Number(at)]));
  }

  /**
   * When a session was offloaded (epoch ms), or null. A session in neither Redis nor the marker never existed (or was
   * deleted); a write to an offloaded session is refused until it is restored.
   */
  async offloadedAt(userId: string, sessionId: string): Promise<number | null> {
    return toNumber(await this.redis.hget(`${this.keyPrefix}:offloaded:${userId}`, sessionId));
  }

  private async send(entity: EntityName, record: Readonly<Record<string, unknown>> & ExtraFields, options: WriteOptions): Promise<WriteResult> {
    rulesOf(entity);
    const id = record?.id;
    if (typeof id !== "string") {
      throw new WriteRefusedError(`${entity} ${showId(String(id))}: the id must be non-empty text without NUL`, { entity, field: "id", source: "client" });
    }
    const write: EncodedWrite = {
      id,
      updatedAt: encodeStamp(options.stamp),
      mode: options.mode ?? "merge",
      condition: options.condition ?? "always",
      fields: encodeFields(entity, record),
    };
    checkWrite(entity, write);
    const reply = await this.run(writeKeys(this.keyPrefix, entity, id), [write.id, write.updatedAt, write.mode, write.condition, ...write.fields]);
    const [flag, score] = Array.isArray(reply) ? reply : [];
    return { written: Number(flag) === 1, updatedAt: Number(score) };
  }

  /** EVALSHA with the script's precomputed SHA-1; on NOSCRIPT (first use, a flushed cache, a failover) EVAL once. */
  private async run(keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      try {
        const reply = await this.redis.evalsha(WRITE_RECORD_SHA1, keys, args);
        this.scriptCached = true;
        return reply;
      } catch (error) {
        if (!isNoScript(error)) {
          throw error;
        }
        this.scriptCached = false;
        return await this.redis.eval(WRITE_RECORD_LUA, keys, args);
      }
    } catch (error) {
      throw asRefusal(error) ?? error;
    }
  }

  /** Whether the last write found the script cached in Redis (diagnostics). */
  get scriptWasCached(): boolean {
    return this.scriptCached;
  }
}

function toNumber(text: string | null): number | null {
  if (text === null || text === "") {
    return null;
  }
  const n = Number(text);
  return Number.isNaN(n) ? null : n;
}

const KNOWN_FIELDS = new Set(["id", "updatedAt", ...Object.values(RULES).flatMap(r => Object.keys(r.kinds))]);

/** A script refusal (`ERR nexus: {entity} {id}: {problem}`) as a {@link WriteRefusedError}, or undefined. */
export function asRefusal(error: unknown): WriteRefusedError | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const match = /ERR nexus: ([\s\S]*?)(?:, command was: [\s\S]*)?$/.exec(message);
  if (!match) {
    return undefined;
  }
  const text = match[1]!;
  // "{entity} {id}: {problem}", the id quoted by the script when it is not plain (and then not escaped inside).
  const subject = /^([a-z]+) ("[\s\S]*?"|[^\s"]+): ([\s\S]*)$/.exec(text);
  const id = subject?.[2]?.startsWith('"') ? subject[2].slice(1, -1) : subject?.[2];
  const first = /^(?:required field |field |)([A-Za-z0-9_]+)/.exec(subject?.[3] ?? "")?.[1];
  return new WriteRefusedError(text, {
    entity: subject?.[1],
    id,
    field: first !== undefined && KNOWN_FIELDS.has(first) ? first : undefined,
    source: "redis",
  });
}
