// The two adapters against a real redis-server: ioredis directly, @upstash/redis through a small fake of Upstash's REST
// API (POST / and /pipeline, base64 response encoding) that forwards each command to the same server. Both load the
// script once: EVALSHA, and EVAL only after NOSCRIPT.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Redis as UpstashRedis } from "@upstash/redis";
import type { Redis } from "ioredis";
import { ArchiveWriter, asRefusal, WRITE_RECORD_LUA, WRITE_RECORD_SHA1, WriteRefusedError, fromIoredis, fromUpstash, type RedisAdapter } from "../src/index.js";
import { REPO_ROOT, startRedis, type RedisServer } from "./servers.js";

let server: RedisServer;
let redis: Redis;
let rest: Server;
let restUrl: string;
let restCommands: string[] = [];

/** Upstash's REST protocol, as much as @upstash/redis uses: a JSON command array in, { result } or { error } out. */
function startFakeUpstash(target: Redis): Promise<Server> {
  // ioredis shapes some replies (HGETALL into an object): Upstash sends Redis's own flat array.
  const encode = (value: unknown, base64: boolean): unknown =>
    Array.isArray(value) ? value.map(v => encode(v, base64))
      : value !== null && typeof value === "object" ? encode(Object.entries(value).flat(), base64)
      : typeof value === "string" && base64 && value !== "OK" ? Buffer.from(value, "utf8").toString("base64")
        : value;
  const execute = async (command: unknown[], base64: boolean) => {
    const [name, ...args] = command.map(String);
    restCommands.push(name!.toUpperCase());
    try {
      return { result: encode(await target.call(name!, ...args), base64) };
    } catch (error) {
      return { error: (error as Error).message };
    }
  };
  const http = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", chunk => (body += chunk));
    request.on("end", async () => {
      if (request.headers.authorization !== "Bearer test-token") {
        response.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "Unauthorized" }));
        return;
      }
      const base64 = request.headers["upstash-encoding"] === "base64";
      const parsed = JSON.parse(body) as unknown[];
      if (request.url === "/pipeline") {
        const results = [];
        for (const command of parsed as unknown[][]) {
          results.push(await execute(command, base64));
        }
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(results));
        return;
      }
      const result = await execute(parsed, base64);
      response.writeHead(result.error ? 400 : 200, { "content-type": "application/json" }).end(JSON.stringify(result));
    });
  });
  return new Promise(resolveServer => http.listen(0, "127.0.0.1", () => resolveServer(http)));
}

// One suite per file, so that its before/after hooks scope the servers on every Node.js version (18 included).
describe("adapters", () => {
  before(async () => {
    server = await startRedis();
    redis = server.client();
    rest = await startFakeUpstash(redis);
    const address = rest.address();
    restUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  });

  after(async () => {
    await new Promise(r => rest?.close(r));
    redis?.disconnect();
    await server?.stop();
  });

  const user = (id: string) => ({ id, email: `${id}@example.com`, displayName: "Ada", createdAt: new Date("2026-03-01T10:00:00Z") });

  describe("the shipped script", () => {
    it("is byte-identical to Core/Source/Scripts/write-record.lua, in the package file and in the module", () => {
      const core = readFileSync(join(REPO_ROOT, "Core", "Source", "Scripts", "write-record.lua"));
      const copy = readFileSync(join(REPO_ROOT, "clients", "typescript", "write-record.lua"));
      assert.ok(core.equals(copy), "clients/typescript/write-record.lua differs from Core's: run NEXUS_REGENERATE_WRITER_RULES=1 dotnet test Tests -c Release --filter FullyQualifiedName~WriterRulesTests");
      assert.ok(Buffer.from(WRITE_RECORD_LUA, "utf8").equals(core), "src/generated/script.ts differs from Core's write-record.lua: regenerate (see above)");
      assert.equal(WRITE_RECORD_SHA1, createHash("sha1").update(core).digest("hex"));
    });

    it("has the SHA-1 Redis gives it", async () => {
      assert.equal(await redis.script("LOAD", WRITE_RECORD_LUA), WRITE_RECORD_SHA1);
    });
  });

  describe("EVALSHA, then EVAL on NOSCRIPT (unit)", () => {
    function recording(noScriptTimes: number): { adapter: RedisAdapter; calls: string[] } {
      const calls: string[] = [];
      let missing = noScriptTimes;
      const adapter: RedisAdapter = {
        evalsha: async sha1 => {
          calls.push(`evalsha ${sha1}`);
          if (missing > 0) {
            missing--;
            throw new Error("NOSCRIPT No matching script. Please use EVAL.");
          }
          return [1, "1767225600000"];
        },
        eval: async script => {
          calls.push(`eval ${script === WRITE_RECORD_LUA ? "write-record.lua" : "?"}`);
          return [1, "1767225600000"];
        },
        get: async () => null,
        zscore: async () => null,
        hget: async () => null,
        hgetall: async () => ({}),
      };
      return { adapter, calls };
    }

    it("falls back once, then stays on EVALSHA", async () => {
      const { adapter, calls } = recording(1);
      const writer = new ArchiveWriter({ redis: adapter });
      assert.deepEqual(await writer.write("user", user("u-1")), { written: true, updatedAt: 1767225600000 });
      await writer.write("user", user("u-2"));
      assert.deepEqual(calls, [`evalsha ${WRITE_RECORD_SHA1}`, "eval write-record.lua", `evalsha ${WRITE_RECORD_SHA1}`]);
    });

    it("reads a script refusal as ioredis and both Upstash paths report it", () => {
      const single = asRefusal(new Error('ERR nexus: message m-42: updatedAt 1796231208 looks like seconds; send epoch milliseconds or "*", command was: ["evalsha","x"]'));
      assert.equal(single?.message, 'message m-42: updatedAt 1796231208 looks like seconds; send epoch milliseconds or "*"');
      assert.deepEqual([single?.entity, single?.id, single?.field, single?.source], ["message", "m-42", "updatedAt", "redis"]);
      const pipelined = asRefusal(new Error('Command failed: ERR nexus: message "m 42": role "wizard" must be one of user|assistant|system|tool'));
      assert.deepEqual([pipelined?.entity, pipelined?.id, pipelined?.field], ["message", "m 42", "role"]);
      assert.equal(asRefusal(new Error("ERR nexus: message m-1: required field userId is empty"))?.field, "userId");
      assert.equal(asRefusal(new Error("ERR nexus: 3 keys passed; the writer needs exactly 5"))?.entity, undefined);
      assert.equal(asRefusal(new Error("WRONGTYPE Operation against a key holding the wrong kind of value")), undefined);
    });

    it("does not fall back on other errors", async () => {
      const adapter: RedisAdapter = { ...recording(0).adapter, evalsha: async () => { throw new Error("READONLY You can't write against a read only replica."); } };
      await assert.rejects(new ArchiveWriter({ redis: adapter }).write("user", user("u-1")), /READONLY/);
    });
  });

  for (const kind of ["ioredis", "upstash"] as const) {
    describe(`${kind} adapter against redis-server`, () => {
      const prefix = `{ts-${kind}}`;
      const make = () => kind === "ioredis"
        ? fromIoredis(redis)
        : fromUpstash(new UpstashRedis({ url: restUrl, token: "test-token", enableTelemetry: false, retry: false }));

      it("writes, edits, soft-deletes and undeletes; loads the script once after a SCRIPT FLUSH", async () => {
        await redis.script("FLUSH");
        restCommands = [];
        const writer = new ArchiveWriter({ redis: make(), keyPrefix: prefix });
        const created = await writer.write("user", user("u-1"));
        assert.equal(created.written, true);
        const edited = await writer.update("user", { id: "u-1", displayName: "Ada L." });
        assert.ok(edited.updatedAt >= created.updatedAt);
        await writer.softDelete("user", "u-1", { at: new Date("2026-04-01T00:00:00Z") });
        assert.equal(await redis.hget(`${prefix}:user:u-1`, "deletedAt"), "1775001600000");
        await writer.undelete("user", "u-1");
        const hash = await redis.hgetall(`${prefix}:user:u-1`);
        assert.deepEqual({ ...hash, updatedAt: undefined }, {
          id: "u-1", email: "u-1@example.com", displayName: "Ada L.", createdAt: "1772359200000", deletedAt: "", updatedAt: undefined,
        });
        assert.equal(await redis.zscore(`${prefix}:changes:user`, "u-1"), hash.updatedAt);
        assert.equal(await redis.get(`${prefix}:writes:user`), "4");
        if (kind === "upstash") {
          assert.deepEqual(restCommands, ["EVALSHA", "EVAL", "EVALSHA", "EVALSHA", "EVALSHA"]);
        }
      });

      it("if-newer skips an older version and returns the current one", async () => {
        const writer = new ArchiveWriter({ redis: make(), keyPrefix: prefix });
        const first = await writer.write("session", { id: "s-1", userId: "u-1", title: "t", createdAt: Date.now() }, { stamp: Date.now() });
        const skipped = await writer.write("session", { id: "s-1", userId: "u-1", title: "older", createdAt: Date.now() }, { stamp: first.updatedAt - 1000, condition: "if-newer" });
        assert.deepEqual(skipped, { written: false, updatedAt: first.updatedAt });
        assert.equal(await redis.hget(`${prefix}:session:s-1`, "title"), "t");
      });

      it("reports a Redis refusal as a WriteRefusedError", async () => {
        const writer = new ArchiveWriter({ redis: make(), keyPrefix: prefix });
        await assert.rejects(writer.update("message", { id: "m-x", content: "x" }), (error: unknown) => {
          assert.ok(error instanceof WriteRefusedError, String(error));
          assert.equal(error.source, "redis");
          assert.equal(error.message, "message m-x: a new record must carry every required field; missing: sessionId, userId, role, createdAt");
          return true;
        });
      });

      it("isArchived compares the index score with the checkpoint mirror and the late set", async () => {
        const writer = new ArchiveWriter({ redis: make(), keyPrefix: prefix });
        const { updatedAt } = await writer.write("message", { id: "m-1", sessionId: "s-1", userId: "u-1", role: "assistant", createdAt: Date.now() });
        assert.deepEqual(await writer.archiveStatus("message", "m-1"), { archived: false, state: "no-checkpoint", updatedAt, checkpoint: null });
        await redis.set(`${prefix}:archive:checkpoint:message`, String(updatedAt - 1));
        assert.equal((await writer.archiveStatus("message", "m-1")).state, "pending");
        await redis.set(`${prefix}:archive:checkpoint:message`, String(updatedAt));
        assert.equal(await writer.isArchived("message", "m-1"), true);
        await redis.zadd(`${prefix}:late:message`, updatedAt, "m-1");
        assert.equal((await writer.archiveStatus("message", "m-1")).state, "late");
        await redis.zrem(`${prefix}:late:message`, "m-1");
        assert.equal((await writer.archiveStatus("message", "m-nope")).state, "not-in-redis");
      });

      it("reads the offload marker", async () => {
        const writer = new ArchiveWriter({ redis: make(), keyPrefix: prefix });
        await redis.hset(`${prefix}:offloaded:u-7`, "s-old", "1767225600000", "0042", "1767225600001");
        assert.deepEqual([...(await writer.offloadedSessions("u-7")).entries()].sort(), [["0042", 1767225600001], ["s-old", 1767225600000]]);
        assert.equal(await writer.offloadedAt("u-7", "s-old"), 1767225600000);
        assert.equal(await writer.offloadedAt("u-7", "s-live"), null);
        assert.deepEqual([...(await writer.offloadedSessions("u-none")).entries()], []);
      });
    });
  }
});
