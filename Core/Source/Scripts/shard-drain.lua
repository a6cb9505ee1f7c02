-- NexusArchive: move archived entries of a change stream the writers no longer write to (the layout before a reshard,
-- or the unsharded stream of a sharded entity) into the index of the stream each id belongs to now, so that the old
-- stream drains to empty and can be retired (docs/scaling.md). Run after a pass over the old stream succeeded: every
-- entry scored at or below ARGV[3] is archived then.
-- KEYS[1]  the old stream's change index (zset)   e.g. nexus:changes:message  or  nexus:changes:{message.1of4}
-- KEYS[2]  the old stream's late set (zset)
-- KEYS[3]  the shard layout (hash)                 {prefix}:archive:shards
-- ARGV[1]  prefix    ARGV[2] entity    ARGV[3] the highest archived score    ARGV[4] at most this many entries
-- ARGV[5]  the old stream's shard count (1 for the unsharded stream)
-- An entry moves with ZADD GT (a newer entry already in the target wins) and leaves the old index in the same step.
-- When every stream of the old count has an empty index and late set, the layout's draining field is removed.
-- Returns { moved, left in the old index }.
local prefix, entity, upto, limit, old_count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local count = tonumber(redis.call('HGET', KEYS[3], entity) or '1')
if count == old_count then
  return { 0, redis.call('ZCARD', KEYS[1]) } -- the writers' current stream: nothing to move
end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', upto, 'WITHSCORES', 'LIMIT', 0, limit)
local moved = 0
for i = 1, #entries, 2 do
  local id, score = entries[i], entries[i + 1]
  local target = prefix .. ':changes:' .. entity
  if count > 1 then
    local h = 0
    for j = 1, #id do
      h = (h * 31 + string.byte(id, j)) % 2147483647
    end
    target = prefix .. ':changes:{' .. entity .. '.' .. (h % count) .. 'of' .. count .. '}'
  end
  redis.call('ZADD', target, 'GT', score, id)
  redis.call('ZREM', KEYS[1], id)
  moved = moved + 1
end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 and redis.call('ZCARD', KEYS[2]) == 0
    and tonumber(redis.call('HGET', KEYS[3], entity .. ':draining') or '0') == old_count then
  -- This stream is empty; the layout forgets the old count once all of its streams are.
  local empty = true
  for s = 0, old_count - 1 do
    local stream = '{' .. entity .. '.' .. s .. 'of' .. old_count .. '}'
    if redis.call('ZCARD', prefix .. ':changes:' .. stream) > 0 or redis.call('ZCARD', prefix .. ':late:' .. stream) > 0 then
      empty = false
      break
    end
  end
  if empty then
    redis.call('HDEL', KEYS[3], entity .. ':draining')
  end
end
return { moved, left }
