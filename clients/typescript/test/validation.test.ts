// Client-side validation against the Lua writer: every bad write is refused by the package with a message naming the
// entity, the id and the field, and the same input sent raw to write-record.lua is refused by Redis too, with the same
// message where no clock is involved. A refused write leaves Redis untouched.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import { ArchiveWriter, WRITE_RECORD_LUA, WriteRefusedError, encodeFields, encodeStamp, fromIoredis, writeKeys, type EntityName } from "../src/index.js";
import { startRedis, type RedisServer } from "./servers.js";

const prefix = "{ts-valid}";
let server: RedisServer;
let redis: Redis;
let writer: ArchiveWriter;

// One suite per file, so that its before/after hooks scope the servers on every Node.js version (18 included).
describe("validation", () => {
  before(async () => {
    server = await startRedis();
    redis = server.client();
    writer = new ArchiveWriter({ redis: fromIoredis(redis), keyPrefix: prefix });
  });

  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const now = Date.now();
  const seconds = Math.floor(now / 1000);
  const message = { id: "m-42", sessionId: "s-1", userId: "u-1", role: "user", content: "hi", createdAt: now } as const;

  interface Case {
    name: string;
    entity: EntityName;
    record: Record<string, unknown>;
    mode?: string;
    condition?: string;
    stamp?: unknown;
    field: string | undefined;
    expected: string;
  }

  const cases: Case[] = [
    { name: "updatedAt in seconds", entity: "message", record: message, stamp: seconds, field: "updatedAt",
      expected: `message m-42: updatedAt ${seconds} looks like seconds; send epoch milliseconds or "*"` },
    { name: "updatedAt in microseconds", entity: "message", record: message, stamp: now * 1000, field: "updatedAt",
      expected: `message m-42: updatedAt ${now * 1000} looks like microseconds; send epoch milliseconds or "*"` },
    { name: "updatedAt zero", entity: "message", record: message, stamp: 0, field: "updatedAt",
      expected: `message m-42: updatedAt 0 is not a positive epoch milliseconds value; send epoch milliseconds or "*"` },
    { name: "updatedAt with a fraction", entity: "message", record: message, stamp: now + 0.5, field: "updatedAt",
      expected: `message m-42: updatedAt "${now + 0.5}" is not whole epoch milliseconds; send epoch milliseconds or "*"` },
    { name: "createdAt in seconds", entity: "message", record: { ...message, createdAt: seconds }, field: "createdAt",
      expected: `message m-42: createdAt ${seconds} looks like seconds; send epoch milliseconds` },
    { name: "createdAt an invalid Date", entity: "user", record: { id: "u-9", createdAt: new Date("not a date") }, field: "createdAt",
      expected: `user u-9: createdAt "Invalid Date" is neither epoch milliseconds nor ISO-8601 (YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]); send epoch milliseconds` },
    { name: "createdAt before 2000", entity: "session", record: { id: "s-9", userId: "u-1", createdAt: new Date("1999-12-31T00:00:00Z") }, field: "createdAt",
      expected: `session s-9: createdAt 946598400000 lies before 2000-01-01 (946684800000); send epoch milliseconds` },
    { name: "deletedAt zero", entity: "message", record: { ...message, deletedAt: 0 }, field: "deletedAt",
      expected: `message m-42: deletedAt 0 is not a positive epoch milliseconds value; send epoch milliseconds, or "" for not deleted` },
    { name: "wrong role", entity: "message", record: { ...message, role: "wizard" }, field: "role",
      expected: `message m-42: role "wizard" must be one of user|assistant|system|tool` },
    { name: "metadata an array", entity: "message", record: { ...message, metadata: [1, 2] }, field: "metadata",
      expected: `message m-42: metadata "[1,2]" is not a JSON object` },
    { name: "metadata a number", entity: "message", record: { ...message, metadata: 7 }, field: "metadata",
      expected: `message m-42: metadata 7 is not a JSON object` },
    { name: "metadata broken JSON text", entity: "message", record: { ...message, metadata: "{\"a\":" }, field: "metadata",
      expected: `message m-42: metadata "{"a":" is not valid JSON` },
    { name: "metadata with \\u0000", entity: "message", record: { ...message, metadata: { a: "x\u0000y" } }, field: "metadata",
      expected: `message m-42: metadata contains \\u0000, which PostgreSQL jsonb cannot store` },
    { name: "tokenCount with a fraction", entity: "message", record: { ...message, tokenCount: 12.5 }, field: "tokenCount",
      expected: `message m-42: tokenCount "12.5" is not a 64-bit decimal integer` },
    { name: "sizeBytes beyond 64 bits", entity: "attachment", record: { id: "a-1", messageId: "m-1", userId: "u-1", createdAt: now, sizeBytes: 2n ** 63n }, field: "sizeBytes",
      expected: `attachment a-1: sizeBytes 9223372036854775808 is not a 64-bit decimal integer` },
    { name: "empty required field", entity: "message", record: { ...message, userId: "" }, field: "userId",
      expected: `message m-42: required field userId is empty` },
    { name: "NUL in text", entity: "message", record: { ...message, content: "a\u0000b" }, field: "content",
      expected: `message m-42: content contains NUL, which PostgreSQL text cannot store` },
    { name: "replace without required fields", entity: "message", record: { id: "m-42", content: "only this" }, mode: "replace", field: "sessionId",
      expected: `message m-42: a replace must carry every required field; missing: sessionId, userId, role, createdAt` },
    { name: "mode in the wrong case", entity: "message", record: message, mode: "Replace", field: undefined,
      expected: `message m-42: mode "Replace" must be exactly merge or replace` },
    { name: "unknown condition", entity: "message", record: message, condition: "sometimes", field: undefined,
      expected: `message m-42: condition "sometimes" must be exactly always or if-newer` },
  ];

  async function snapshot(): Promise<string[]> {
    const keys = await redis.keys(`${prefix}*`);
    return keys.sort();
  }

  describe("client-side validation matches write-record.lua", () => {
    for (const c of cases) {
      it(`${c.name}: refused by the package and by Redis`, async () => {
        const before = await snapshot();
        const options = { mode: c.mode, condition: c.condition, stamp: c.stamp } as never;
        await assert.rejects(writer.write(c.entity, c.record as never, options), (error: unknown) => {
          assert.ok(error instanceof WriteRefusedError, String(error));
          assert.equal(error.source, "client");
          assert.equal(error.message, c.expected);
          assert.equal(error.entity, c.entity);
          assert.equal(error.id, c.record.id);
          assert.equal(error.field, c.field);
          return true;
        });

        // The same input, raw: what the package would have sent, straight to the script.
        const id = String(c.record.id);
        const raw = redis.eval(WRITE_RECORD_LUA, 5, ...writeKeys(prefix, c.entity, id), id, encodeStamp(c.stamp as never), c.mode ?? "merge", c.condition ?? "always", ...encodeFields(c.entity, c.record));
        await assert.rejects(raw, (error: unknown) => {
          assert.equal((error as Error).message, `ERR nexus: ${c.expected}`);
          return true;
        });
        assert.deepEqual(await snapshot(), before, "a refused write changes nothing");
      });
    }

    it("far-future updatedAt: refused by both (each against its own clock)", async () => {
      const future = now + 3 * 86400000;
      await assert.rejects(writer.write("message", message, { stamp: future }), /^WriteRefusedError: message m-42: updatedAt \d+ lies more than 1 day ahead of the Redis clock \(\d+\); send epoch milliseconds or "\*"$/);
      const raw = redis.eval(WRITE_RECORD_LUA, 5, ...writeKeys(prefix, "message", "m-42"), "m-42", String(future), "merge", "always", ...encodeFields("message", message));
      await assert.rejects(raw, /^ReplyError: ERR nexus: message m-42: updatedAt \d+ lies more than 1 day ahead of the Redis clock \(\d+\); send epoch milliseconds or "\*"$/);
    });

    it("a merge into a missing record is refused by Redis (only it knows the hash is new), as a WriteRefusedError", async () => {
      await assert.rejects(writer.update("message", { id: "m-new", content: "edit" }), (error: unknown) => {
        assert.ok(error instanceof WriteRefusedError);
        assert.equal(error.source, "redis");
        assert.equal(error.message, "message m-new: a new record must carry every required field; missing: sessionId, userId, role, createdAt");
        assert.equal(error.entity, "message");
        assert.equal(error.id, "m-new");
        return true;
      });
    });

    it("Date and number times are sent as epoch milliseconds; null means no value", async () => {
      const created = new Date("2026-01-02T03:04:05.678Z");
      const result = await writer.write("message", { ...message, id: "m-date", createdAt: created, tokenCount: 12n, metadata: null, deletedAt: null });
      assert.equal(result.written, true);
      const hash = await redis.hgetall(`${prefix}:message:m-date`);
      assert.equal(hash.createdAt, "1767323045678");
      assert.equal(hash.tokenCount, "12");
      assert.equal(hash.metadata, "");
      assert.equal(hash.deletedAt, "");
      assert.equal(hash.updatedAt, String(result.updatedAt));
      assert.equal(hash.id, "m-date");
    });

    it("refuses what it cannot send faithfully, naming the field", async () => {
      const refusals: [Record<string, unknown>, string, string][] = [
        [{ ...message, sesionId: "typo" }, "sesionId", `message m-42: "sesionId" is not a field of message; put fields the archive does not map in extra`],
        [{ ...message, updatedAt: now }, "updatedAt", "message m-42: updatedAt is set by the writer from the write's stamp; pass { stamp } instead"],
        [{ ...message, content: null }, "content", `message m-42: content is null; a text field takes a string ("" is kept as an empty string)`],
        [{ ...message, content: 5 }, "content", "message m-42: content must be a string, not number"],
        [{ ...message, tokenCount: 2 ** 60 }, "tokenCount", "message m-42: tokenCount 1152921504606847000 is beyond Number.MAX_SAFE_INTEGER and may have lost digits; pass a bigint"],
        [{ ...message, extra: { role: "x" } }, "role", `message m-42: extra field "role" is a field the archive maps; set it on the record itself`],
      ];
      for (const [record, field, expected] of refusals) {
        await assert.rejects(writer.write("message", record as never), (error: unknown) => {
          assert.ok(error instanceof WriteRefusedError);
          assert.equal(error.message, expected);
          assert.equal(error.field, field);
          return true;
        });
      }
      assert.throws(() => new ArchiveWriter({ redis: fromIoredis(redis), keyPrefix: "nexus:*" }), /keyPrefix 'nexus:\*' is invalid/);
      assert.throws(() => new ArchiveWriter({ redis: fromIoredis(redis), keyPrefix: "{a}{b}" }), /is invalid/);
      await assert.rejects(writer.write("wizard" as never, message as never), /unknown entity "wizard"; the writer knows attachment, message, session, user/);
    });
  });
});
