// @nexuschat/archive-writer: NexusChat's side of the NexusArchive Redis contract (docs/redis-layout.md).
export { ArchiveWriter, DEFAULT_KEY_PREFIX, asRefusal, shardOf, writeKeys } from "./writer.js";
export type { ArchiveStatus, ArchiveWriterOptions, PatchInput, RecordInput, WriteOptions, WriteResult } from "./writer.js";
export { fromIoredis, fromUpstash, isNoScript } from "./adapter.js";
export type { IoredisLike, RedisAdapter, UpstashLike } from "./adapter.js";
export { WriteRefusedError } from "./errors.js";
export { checkWrite, encodeFields, encodeStamp } from "./validate.js";
export type { EncodedWrite, ExtraFields, Stamp, WriteCondition, WriteMode } from "./validate.js";
export type { IntegerInput, JsonObject, TimeInput } from "./values.js";
export {
  EARLIEST_MS, ENTITIES, MAX_AHEAD_MS, RULES,
} from "./generated/rules.js";
export type { AttachmentRef, ChatSession, EntityName, EntityRecords, EntityRules, FieldKind, Message, User } from "./generated/rules.js";
export { WRITE_RECORD_LUA, WRITE_RECORD_SHA1 } from "./generated/script.js";
