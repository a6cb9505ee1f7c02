// The record types catch contract mistakes at compile time (tsc fails on an unused @ts-expect-error).
import assert from "node:assert/strict";
import { it } from "node:test";
import { ArchiveWriter, type AttachmentRef, type ChatSession, type Message, type RedisAdapter, type User } from "../src/index.js";

function typeChecks(writer: ArchiveWriter): void {
  const createdAt = new Date();
  void writer.write("message", { id: "m", sessionId: "s", userId: "u", role: "tool", createdAt, tokenCount: 3n, metadata: { a: 1 } });
  // @ts-expect-error role is one of user | assistant | system | tool
  void writer.write("message", { id: "m", sessionId: "s", userId: "u", role: "wizard", createdAt });
  // @ts-expect-error a whole record carries every required field (sessionId)
  void writer.write("message", { id: "m", userId: "u", role: "user", createdAt });
  // @ts-expect-error times are Date | number, not strings
  void writer.write("user", { id: "u", createdAt: "2026-01-01" });
  // @ts-expect-error updatedAt is the write's stamp, not a field
  void writer.update("user", { id: "u", updatedAt: Date.now() });
  // @ts-expect-error text fields take strings, not null
  void writer.update("session", { id: "s", title: null });
  void writer.update("session", { id: "s", title: "renamed", deletedAt: null, extra: { pinned: "true" } });
  void writer.write("attachment", { id: "a", messageId: "m", userId: "u", createdAt: 1767225600000, sizeBytes: 10 }, { mode: "replace", stamp: "*", condition: "if-newer" });
  // @ts-expect-error unknown entity
  void writer.softDelete("wizard", "x");
}

it("record types are the contract's (compile-time checks)", () => {
  const records: [User, ChatSession, Message, AttachmentRef] | undefined = undefined;
  assert.equal(records, undefined);
  assert.equal(typeof typeChecks, "function");
  const adapter: RedisAdapter | undefined = undefined;
  assert.equal(adapter, undefined);
});
