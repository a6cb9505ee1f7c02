-- Reads one page of a change index in (score, member) order after a cursor, atomically, so that
-- records sharing one score are neither lost nor repeated across pages.
--
-- KEYS[1]  change index (zset)
-- ARGV[1]  cursor score
-- ARGV[2]  cursor member
-- ARGV[3]  '1' = start at the first entry with score >= ARGV[1] (ignore ARGV[2]);
--          '0' = start right after the entry (ARGV[1], ARGV[2])
-- ARGV[4]  page size
--
-- If the cursor member still sits at the cursor score, its rank is exact. If it moved (edited since)
-- or vanished, the page starts at the first entry with the cursor score and the caller drops entries
-- at or before the cursor (it compares (score, member) bytewise, as Redis orders them).
-- Returns a flat array: member, score, member, score, ...

local key = KEYS[1]
local limit = tonumber(ARGV[4])
local start
if ARGV[3] == '1' then
  start = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[1])
else
  local current = redis.call('ZSCORE', key, ARGV[2])
  if current and tonumber(current) == tonumber(ARGV[1]) then
    start = redis.call('ZRANK', key, ARGV[2]) + 1
  else
    start = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[1])
  end
end
return redis.call('ZRANGE', key, start, start + limit - 1, 'WITHSCORES')
