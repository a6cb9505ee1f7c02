/**
 * The few Redis commands the writer needs. {@link fromIoredis} and {@link fromUpstash} adapt the two clients NexusChat
 * uses; anything else (node-redis, a test double) fits in a dozen lines. Values come back as strings or null.
 */
export interface RedisAdapter {
  /** `EVALSHA sha1 numkeys keys… args…`; rejects with an error whose message contains `NOSCRIPT` when the script is not cached. */
  evalsha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** `EVAL script numkeys keys… args…` (also caches the script, so the next `EVALSHA` finds it). */
  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** `GET key`. */
  get(key: string): Promise<string | null>;
  /** `ZSCORE key member`. */
  zscore(key: string, member: string): Promise<string | null>;
  /** `HGET key field`. */
  hget(key: string, field: string): Promise<string | null>;
  /** `HGETALL key` (an empty object when the key does not exist). */
  hgetall(key: string): Promise<Record<string, string>>;
}

/** The part of an ioredis `Redis` or `Cluster` the adapter uses (structural: the package does not import ioredis). */
export interface IoredisLike {
  evalsha(sha1: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  get(key: string): Promise<string | null>;
  zscore(key: string, member: string): Promise<string | null>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
}

/** Adapts an ioredis client (`new Redis(process.env.REDIS_URL)`; `rediss://` for Upstash's TCP endpoint). */
export function fromIoredis(client: IoredisLike): RedisAdapter {
  return {
    evalsha: (sha1, keys, args) => client.evalsha(sha1, keys.length, ...keys, ...args),
    eval: (script, keys, args) => client.eval(script, keys.length, ...keys, ...args),
    get: key => client.get(key),
    zscore: (key, member) => client.zscore(key, member),
    hget: (key, field) => client.hget(key, field),
    hgetall: key => client.hgetall(key),
  };
}

/**
 * The part of an `@upstash/redis` `Redis` the adapter uses (structural: the package does not import it). Upstash's
 * client parses replies that look like JSON (`"1764355200000"` arrives as a number) unless
 * `automaticDeserialization: false`; the adapter turns them back into strings, so either setting works.
 */
export interface UpstashLike {
  evalsha(sha1: string, keys: string[], args: unknown[]): Promise<unknown>;
  eval(script: string, keys: string[], args: unknown[]): Promise<unknown>;
  get(key: string): Promise<unknown>;
  zscore(key: string, member: string): Promise<unknown>;
  hget(key: string, field: string): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, unknown> | null>;
}

/** Adapts an `@upstash/redis` REST client (`Redis.fromEnv()` or `new Redis({ url, token })`). */
export function fromUpstash(client: UpstashLike): RedisAdapter {
  return {
    evalsha: (sha1, keys, args) => client.evalsha(sha1, [...keys], [...args]),
    eval: (script, keys, args) => client.eval(script, [...keys], [...args]),
    get: async key => text(await client.get(key)),
    zscore: async (key, member) => text(await client.zscore(key, member)),
    hget: async (key, field) => text(await client.hget(key, field)),
    hgetall: async key => {
      const hash = await client.hgetall(key);
      const result: Record<string, string> = {};
      for (const [field, value] of Object.entries(hash ?? {})) {
        result[field] = text(value) ?? "";
      }
      return result;
    },
  };
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** True for Redis's "script not cached" error, as ioredis and @upstash/redis report it. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error ? /\bNOSCRIPT\b/.test(error.message) : /\bNOSCRIPT\b/.test(String(error));
}
