-- NexusArchive record writer: the only supported way to write a record NexusArchive archives.
-- Updates the record hash and its change index atomically (a Lua script runs as one unit).
--
-- KEYS[1]  record hash            e.g. nexus:message:m-42
-- KEYS[2]  change index (zset)    e.g. nexus:changes:message
-- KEYS[3]  write counter (optional, string) e.g. nexus:writes:message — incremented by every write, so NexusArchive
--          can tell that nothing was written since its last pass and skip re-reading its look-back overlap
-- ARGV[1]  record id (the index member)
-- ARGV[2]  updatedAt in Unix epoch milliseconds, or '*' to stamp it from the Redis server clock (TIME)
-- ARGV[3]  'merge'   : set the given fields, keep the others
--          'replace' : the hash becomes exactly the given fields
-- ARGV[4]  'always'   : write unconditionally
--          'if-newer' : write only if the index holds no score >= ARGV[2] for this id (restore uses this)
-- ARGV[5..] field, value, field, value, ...
--
-- The script always stores the final score as the hash's updatedAt field (decimal epoch ms), so the
-- index score and the record can never disagree.
-- Returns { 1, score } when written, { 0, currentScore } when skipped by 'if-newer'.

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

if ARGV[3] == 'replace' then
  redis.call('DEL', KEYS[1])
end

if #ARGV >= 6 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'updatedAt', score)
redis.call('ZADD', KEYS[2], score, ARGV[1])
if KEYS[3] then
  redis.call('INCR', KEYS[3])
end
return { 1, score }
