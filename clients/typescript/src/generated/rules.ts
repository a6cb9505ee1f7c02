// Rendered by Core/Source/WriterRules.TypeScript.cs from the entity descriptors (Core/Entities); do not edit by hand.
// Regenerate: NEXUS_REGENERATE_WRITER_RULES=1 dotnet test Tests -c Release --filter FullyQualifiedName~WriterRulesTests
// The same rules as the block between "-- BEGIN GENERATED WRITER RULES" and "-- END GENERATED WRITER RULES" in
// Core/Source/Scripts/write-record.lua, and the archive's mapper.
import type { IntegerInput, JsonObject, TimeInput } from "../values.js";

/** Timestamps must lie between EARLIEST_MS and the Redis clock + MAX_AHEAD_MS (Archive:FutureTolerance's default). */
export const EARLIEST_MS = 946684800000;
export const EARLIEST_TEXT = "2000-01-01";
export const MAX_AHEAD_MS = 86400000;
export const MAX_AHEAD_TEXT = "1 day";
export const ENTITY_NAMES = "attachment, message, session, user";

/** An archived entity: the `{entity}` of its Redis keys. */
export type EntityName = "user" | "session" | "message" | "attachment";

/** Every entity, in dependency order (parents first). */
export const ENTITIES: readonly EntityName[] = ["user", "session", "message", "attachment"];

/** How a field is checked and sent: text as it is, timestamp as epoch ms, integer as 64-bit decimal, json as an object. */
export type FieldKind = "text" | "timestamp" | "integer" | "json";

/** The rules of one entity. */
export interface EntityRules {
  /** Fields a new record (or a replace) must carry, never empty. `id` is checked on its own. */
  readonly required: readonly string[];
  /** Every mapped field except those the writer sets (`id`, `updatedAt`), in column order. Other fields land in `extra`. */
  readonly kinds: Readonly<Record<string, FieldKind>>;
  /** Enumerations: the only values accepted (exact comparison). */
  readonly allowed: Readonly<Record<string, readonly string[]>>;
}

export const RULES: Readonly<Record<EntityName, EntityRules>> = {
  user: {
    required: ["createdAt"],
    kinds: { email: "text", displayName: "text", avatarUrl: "text", createdAt: "timestamp", deletedAt: "timestamp" },
    allowed: {},
  },
  session: {
    required: ["userId", "createdAt"],
    kinds: { userId: "text", title: "text", model: "text", createdAt: "timestamp", deletedAt: "timestamp" },
    allowed: {},
  },
  message: {
    required: ["sessionId", "userId", "role", "createdAt"],
    kinds: { sessionId: "text", userId: "text", role: "text", content: "text", model: "text", tokenCount: "integer", metadata: "json", createdAt: "timestamp", deletedAt: "timestamp" },
    allowed: { role: ["user", "assistant", "system", "tool"] },
  },
  attachment: {
    required: ["messageId", "userId", "createdAt"],
    kinds: { messageId: "text", sessionId: "text", userId: "text", fileName: "text", mimeType: "text", sizeBytes: "integer", storageUrl: "text", createdAt: "timestamp", deletedAt: "timestamp" },
    allowed: {},
  },
};

/** An user: Redis hash `{prefix}:user:{id}`, archived in `users`. */
export interface User {
  /** Column `id` (text, set by the writer from the record id). */
  id: string;
  /** Column `email` (text). */
  email?: string;
  /** Column `display_name` (text). */
  displayName?: string;
  /** Column `avatar_url` (text). */
  avatarUrl?: string;
  /** Column `created_at` (timestamp: a Date or epoch milliseconds). */
  createdAt: TimeInput;
  /** Column `deleted_at` (timestamp: set = soft-deleted, null = not deleted). */
  deletedAt?: TimeInput | null;
}

/** A session: Redis hash `{prefix}:session:{id}`, archived in `chat_sessions`. */
export interface ChatSession {
  /** Column `id` (text, set by the writer from the record id). */
  id: string;
  /** Column `user_id` (text, never empty). */
  userId: string;
  /** Column `title` (text). */
  title?: string;
  /** Column `model` (text). */
  model?: string;
  /** Column `created_at` (timestamp: a Date or epoch milliseconds). */
  createdAt: TimeInput;
  /** Column `deleted_at` (timestamp: set = soft-deleted, null = not deleted). */
  deletedAt?: TimeInput | null;
}

/** A message: Redis hash `{prefix}:message:{id}`, archived in `messages`. */
export interface Message {
  /** Column `id` (text, set by the writer from the record id). */
  id: string;
  /** Column `session_id` (text, never empty). */
  sessionId: string;
  /** Column `user_id` (text, never empty). */
  userId: string;
  /** Column `role` (text, never empty). */
  role: "user" | "assistant" | "system" | "tool";
  /** Column `content` (text). */
  content?: string;
  /** Column `model` (text). */
  model?: string;
  /** Column `token_count` (integer: a safe integer or a bigint in the 64-bit range). */
  tokenCount?: IntegerInput | null;
  /** Column `metadata` (json: a JSON object, stored as jsonb). */
  metadata?: JsonObject | null;
  /** Column `created_at` (timestamp: a Date or epoch milliseconds). */
  createdAt: TimeInput;
  /** Column `deleted_at` (timestamp: set = soft-deleted, null = not deleted). */
  deletedAt?: TimeInput | null;
}

/** An attachment: Redis hash `{prefix}:attachment:{id}`, archived in `attachment_refs`. */
export interface AttachmentRef {
  /** Column `id` (text, set by the writer from the record id). */
  id: string;
  /** Column `message_id` (text, never empty). */
  messageId: string;
  /** Column `session_id` (text). */
  sessionId?: string;
  /** Column `user_id` (text, never empty). */
  userId: string;
  /** Column `file_name` (text). */
  fileName?: string;
  /** Column `mime_type` (text). */
  mimeType?: string;
  /** Column `size_bytes` (integer: a safe integer or a bigint in the 64-bit range). */
  sizeBytes?: IntegerInput | null;
  /** Column `storage_url` (text). */
  storageUrl?: string;
  /** Column `created_at` (timestamp: a Date or epoch milliseconds). */
  createdAt: TimeInput;
  /** Column `deleted_at` (timestamp: set = soft-deleted, null = not deleted). */
  deletedAt?: TimeInput | null;
}

/** The record type of each entity. */
export interface EntityRecords {
  user: User;
  session: ChatSession;
  message: Message;
  attachment: AttachmentRef;
}
