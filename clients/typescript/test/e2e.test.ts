// End to end: every entity written through the package (ioredis adapter) into a real redis-server, archived by the real
// NexusArchive CLI into a real PostgreSQL, read back with psql: every field round-trips. Then isArchived agrees.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import { ArchiveWriter, ENTITIES, fromIoredis, shardOf } from "../src/index.js";
import { REPO_ROOT, startPostgres, startRedis, type PostgresServer, type RedisServer } from "./servers.js";

const cli = process.env.NEXUS_CLI_DLL ?? join(REPO_ROOT, "Cli", "bin", "Release", "net10.0", "nexus-archive.dll");
const prefix = "{ts-e2e}";
let redisServer: RedisServer;
let postgres: PostgresServer;
let redis: Redis;

// One suite per file, so that its before/after hooks scope the servers on every Node.js version (18 included).
describe("end to end: package, Redis, CLI, PostgreSQL", () => {
  before(async () => {
    assert.ok(existsSync(cli), `${cli} is missing: build the CLI first (dotnet build Cli -c Release), or set NEXUS_CLI_DLL.`);
    [redisServer, postgres] = await Promise.all([startRedis(), startPostgres()]);
    redis = redisServer.client();
  });

  after(async () => {
    redis?.disconnect();
    await redisServer?.stop();
    postgres?.stop();
  });

  function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("ConnectionStrings__") && !key.startsWith("Archive__")) {
        env[key] = value; // nothing from the developer's archive settings leaks in
      }
    }
    Object.assign(env, {
      ConnectionStrings__Redis: `127.0.0.1:${redisServer.port}`,
      ConnectionStrings__Postgres: postgres.connectionString,
      Archive__KeyPrefix: prefix,
      Archive__SettleWindow: "00:00:00",
    });
    return new Promise(resolveRun => {
      execFile("dotnet", [cli, ...args], { env, timeout: 120000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolveRun({ code, stdout, stderr });
      });
    });
  }

  function rows(table: string): Record<string, unknown>[] {
    const out = postgres.psql(`SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM public.${table} t`);
    return JSON.parse(out) as Record<string, unknown>[];
  }

  const ms = (value: unknown) => (value === null ? null : Date.parse(String(value)));

  it("every entity written through the package is archived by the CLI with every field intact", async () => {
    const writer = new ArchiveWriter({ redis: fromIoredis(redis), keyPrefix: prefix });
    const created = new Date("2026-05-04T03:02:01.234Z");
    const deleted = Date.parse("2026-06-01T00:00:00.5Z");

    const user = await writer.write("user", {
      id: "u-1", email: "ada@example.com", displayName: "Ada Lovelace ✓", avatarUrl: "https://cdn.example.com/a.png", createdAt: created,
      extra: { plan: "pro" },
    });
    const session = await writer.write("session", { id: "s-1", userId: "u-1", title: "Analytical engines", model: "gpt-x", createdAt: created.getTime() });
    const message = await writer.write("message", {
      id: "m-1", sessionId: "s-1", userId: "u-1", role: "assistant", content: "Hello \"world\"\nline 2", model: "gpt-x",
      tokenCount: 9007199254740993n, metadata: { tools: ["search"], score: 0.5, nested: { ok: true } }, createdAt: created,
    });
    // Written, then soft-deleted: archived with deleted_at set.
    // m-2's versions come at least a millisecond after m-1's (on a quiet loopback all three writes can share one), so m-1
    // is below the newest score and the checkpoint mirror confirms it below.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await writer.write("message", { id: "m-2", sessionId: "s-1", userId: "u-1", role: "user", content: "", createdAt: created });
    const m2 = await writer.softDelete("message", "m-2", { at: deleted });
    // Soft-deleted, then undeleted: archived with deleted_at NULL.
    await writer.write("attachment", { id: "a-1", messageId: "m-1", sessionId: "s-1", userId: "u-1", fileName: "notes.pdf", mimeType: "application/pdf",
      sizeBytes: 123456, storageUrl: "s3://bucket/notes.pdf", createdAt: created, deletedAt: deleted });
    const a1 = await writer.undelete("attachment", "a-1");

    const migrate = await runCli("migrate");
    assert.equal(migrate.code, 0, migrate.stderr);
    const archive = await runCli("archive", "--json");
    assert.equal(archive.code, 0, archive.stdout + archive.stderr);
    assert.equal(JSON.parse(archive.stdout).totalUpserted, 5);

    const [u] = rows("users");
    assert.deepEqual([u!.id, u!.email, u!.display_name, u!.avatar_url, ms(u!.created_at), ms(u!.updated_at), u!.deleted_at, u!.extra],
      ["u-1", "ada@example.com", "Ada Lovelace ✓", "https://cdn.example.com/a.png", created.getTime(), user.updatedAt, null, { plan: "pro" }]);

    const [s] = rows("chat_sessions");
    assert.deepEqual([s!.id, s!.user_id, s!.title, s!.model, ms(s!.created_at), ms(s!.updated_at), s!.deleted_at, s!.extra],
      ["s-1", "u-1", "Analytical engines", "gpt-x", created.getTime(), session.updatedAt, null, null]);

    const [m1, m2row] = rows("messages");
    assert.deepEqual([m1!.id, m1!.session_id, m1!.user_id, m1!.role, m1!.content, m1!.model, ms(m1!.created_at), ms(m1!.updated_at), m1!.deleted_at, m1!.metadata, m1!.extra],
      ["m-1", "s-1", "u-1", "assistant", "Hello \"world\"\nline 2", "gpt-x", created.getTime(), message.updatedAt, null, { tools: ["search"], score: 0.5, nested: { ok: true } }, null]);
    assert.equal(postgres.psql("SELECT token_count::text FROM public.messages WHERE id = 'm-1'").trim(), "9007199254740993");
    assert.deepEqual([m2row!.id, m2row!.role, m2row!.content, m2row!.token_count, m2row!.metadata, ms(m2row!.deleted_at), ms(m2row!.updated_at)],
      ["m-2", "user", "", null, null, deleted, m2.updatedAt]);

    const [a] = rows("attachment_refs");
    assert.deepEqual([a!.id, a!.message_id, a!.session_id, a!.user_id, a!.file_name, a!.mime_type, a!.size_bytes, a!.storage_url, ms(a!.created_at), ms(a!.updated_at), a!.deleted_at],
      ["a-1", "m-1", "s-1", "u-1", "notes.pdf", "application/pdf", 123456, "s3://bucket/notes.pdf", created.getTime(), a1.updatedAt, null]);

    // The checkpoint mirror: every score at or below it is archived. It trails the pass's checkpoint (the newest record's
    // score) by 1 ms, because records sharing that score may still be pending: the newest record of an entity is
    // confirmed by the pass after the next change, older ones at once.
    assert.equal(await writer.isArchived("message", "m-1"), true);
    assert.deepEqual(await writer.archiveStatus("user", "u-1"), { archived: false, state: "pending", updatedAt: user.updatedAt, checkpoint: user.updatedAt - 1 });

    // An edit after the pass is pending until a pass archives it; later writes of every entity move the mirrors past it.
    await writer.update("message", { id: "m-1", content: "edited" });
    assert.equal((await writer.archiveStatus("message", "m-1")).state, "pending");
    await new Promise(r => setTimeout(r, 5));
    await writer.write("user", { id: "u-2", createdAt: Date.now() });
    await writer.write("session", { id: "s-2", userId: "u-2", createdAt: Date.now() });
    await writer.write("message", { id: "m-3", sessionId: "s-2", userId: "u-2", role: "system", createdAt: Date.now() });
    await writer.write("attachment", { id: "a-2", messageId: "m-3", userId: "u-2", createdAt: Date.now() });
    const again = await runCli("archive", "--json");
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).totalUpserted, 5);
    assert.equal(postgres.psql("SELECT content FROM public.messages WHERE id = 'm-1'").trim(), "edited");
    for (const [entity, id] of [["user", "u-1"], ["session", "s-1"], ["message", "m-1"], ["message", "m-2"], ["attachment", "a-1"]] as const) {
      assert.equal(await writer.isArchived(entity, id), true, `${entity} ${id}: ${JSON.stringify(await writer.archiveStatus(entity, id))}`);
    }
    assert.deepEqual(ENTITIES, ["user", "session", "message", "attachment"]);
  });

  it("with the message entity in 4 shards, every write lands in the shard shardOf names and the CLI archives each shard", async () => {
    const writer = new ArchiveWriter({ redis: fromIoredis(redis), keyPrefix: prefix });
    const reshard = await runCli("reshard", "--entity", "message", "--shards", "4");
    assert.equal(reshard.code, 0, reshard.stdout + reshard.stderr);
    const ids = Array.from({ length: 40 }, (_, i) => `sharded-${i}-é中😀`); // 2-, 3- and 4-byte UTF-8: the hash runs over bytes
    for (const id of ids) {
      await writer.write("message", { id, sessionId: "s-1", userId: "u-1", role: "user", content: id, createdAt: Date.now() });
    }
    for (const id of ids) {
      const key = `${prefix}:changes:{message.${shardOf(id, 4)}of4}`;
      assert.notEqual(await redis.zscore(key, id), null, `${id} is not in ${key}`);
    }
    assert.deepEqual([shardOf("abc", 4), shardOf("é", 7), shardOf("", 4)], [2, 5, 0]); // the values Tests/Unit/ChangeShardTests pins

    for (const shard of [0, 1, 2, 3]) {
      const run = await runCli("archive", "--entity", "message", "--shard", String(shard), "--json");
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(JSON.parse(run.stdout).entities[0].shard, `${shard}of4`);
    }
    assert.equal(postgres.psql("SELECT count(*) FROM public.messages WHERE id LIKE 'sharded-%'").trim(), "40");
    // archiveStatus reads the mirror of the id's own shard: every id below its shard's newest score reads as archived
    // (the mirror trails each shard's checkpoint by 1 ms, so the newest of each shard waits for that shard's next change).
    for (const shard of [0, 1, 2, 3]) {
      const ofShard = ids.filter(id => shardOf(id, 4) === shard);
      const newest = Math.max(...await Promise.all(ofShard.map(async id => Number(await redis.zscore(`${prefix}:changes:{message.${shard}of4}`, id)))));
      for (const id of ofShard) {
        const status = await writer.archiveStatus("message", id);
        assert.equal(status.state, status.updatedAt! < newest ? "archived" : "pending", `${id} in shard ${shard}: ${JSON.stringify(status)}`);
      }
    }
  });
});
