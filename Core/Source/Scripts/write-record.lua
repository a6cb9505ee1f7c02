-- NexusArchive record writer: the only supported way to write a record NexusArchive archives.
-- Updates the record hash, its change index and the write counter atomically (a Lua script runs as one unit), and
-- records a late write in the late set.
--
-- KEYS[1]  record hash                      {prefix}:{entity}:{id}           e.g. nexus:message:m-42
-- KEYS[2]  change index (zset)              {prefix}:changes:{entity}        e.g. nexus:changes:message
-- KEYS[3]  write counter (string)           {prefix}:writes:{entity}         incremented by every write
-- KEYS[4]  late horizon (string, epoch ms)  {prefix}:archive:horizon:{entity} raised by NexusArchive before each pass
-- KEYS[5]  late set (zset)                  {prefix}:late:{entity}           writes at or below the horizon
-- ARGV[1]  record id (the index member)
-- ARGV[2]  updatedAt in Unix epoch milliseconds, or '*' to stamp it from the Redis server clock (TIME)
-- ARGV[3]  'merge'   : set the given fields, keep the others
--          'replace' : the hash becomes exactly the given fields
-- ARGV[4]  'always'   : write unconditionally
--          'if-newer' : write only if the index holds no score >= ARGV[2] for this id (restore uses this)
-- ARGV[5..] field, value, field, value, ...
--
-- The script always stores the final score as the hash's updatedAt field (decimal epoch ms), so the
-- index score and the record can never disagree. A write whose score is at or below the late horizon is also added
-- to the late set, which every pass drains.
-- Returns { 1, score } when written, { 0, currentScore } when skipped by 'if-newer'.

-- BEGIN GENERATED WRITER RULES
-- Rendered by Core/Source/WriterRules.cs from the entity descriptors (Core/Entities); do not edit by hand.
-- Regenerate: NEXUS_REGENERATE_WRITER_RULES=1 dotnet test Tests -c Release --filter FullyQualifiedName~WriterRulesTests
-- Timestamps must lie between EARLIEST_MS and the Redis clock + MAX_AHEAD_MS (Archive:FutureTolerance's default).
local EARLIEST_MS = 946684800000
local EARLIEST_TEXT = '2000-01-01'
local MAX_AHEAD_MS = 86400000
local MAX_AHEAD_TEXT = '1 day'
local ENTITY_NAMES = 'attachment, message, session, user'
-- The rules of one entity: the fields a new record (or a replace) must carry, the kind of every required or typed
-- field, and allowed values. Other fields (unknown ones land in the archive's extra column) take any text without NUL.
-- A function, so that a write builds the tables of its own entity only.
local function entity_rules(entity)
  if entity == 'user' then
    return {
      required = { 'createdAt' },
      kinds = { createdAt = 'timestamp', deletedAt = 'timestamp' },
    }
  end
  if entity == 'session' then
    return {
      required = { 'userId', 'createdAt' },
      kinds = { userId = 'text', createdAt = 'timestamp', deletedAt = 'timestamp' },
    }
  end
  if entity == 'message' then
    return {
      required = { 'sessionId', 'userId', 'role', 'createdAt' },
      kinds = { sessionId = 'text', userId = 'text', role = 'text', tokenCount = 'integer', metadata = 'json', createdAt = 'timestamp', deletedAt = 'timestamp' },
      allowed = { role = { 'user', 'assistant', 'system', 'tool' } },
    }
  end
  if entity == 'attachment' then
    return {
      required = { 'messageId', 'userId', 'createdAt' },
      kinds = { messageId = 'text', userId = 'text', sizeBytes = 'integer', createdAt = 'timestamp', deletedAt = 'timestamp' },
    }
  end
  return nil
end
-- END GENERATED WRITER RULES

if #KEYS ~= 5 then
  return redis.error_reply('ERR nexus: ' .. #KEYS .. ' keys passed; the writer needs exactly 5: KEYS[1] record hash {prefix}:{entity}:{id}, '
    .. 'KEYS[2] change index {prefix}:changes:{entity}, KEYS[3] write counter {prefix}:writes:{entity}, '
    .. 'KEYS[4] late horizon {prefix}:archive:horizon:{entity}, KEYS[5] late set {prefix}:late:{entity}')
end

local score = ARGV[2]
if score == '*' then
  local now = redis.call('TIME')
  score = string.format('%.0f', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
elseif not string.match(score, '^%-?%d+$') or string.len(score) > 16 then
  return redis.error_reply('ERR updatedAt score must be whole epoch milliseconds or *')
end

if ARGV[4] == 'if-newer' then
  local current = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if current and tonumber(current) >= tonumber(score) then
    return { 0, current }
  end
end

local horizon = redis.call('GET', KEYS[4])
local late = horizon and (tonumber(horizon) == nil or tonumber(score) <= tonumber(horizon))

redis.call('INCR', KEYS[3])
if ARGV[3] == 'replace' then
  redis.call('DEL', KEYS[1])
end

if #ARGV >= 6 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'updatedAt', score)
redis.call('ZADD', KEYS[2], score, ARGV[1])
if late then
  redis.call('ZADD', KEYS[5], score, ARGV[1])
end
return { 1, score }
