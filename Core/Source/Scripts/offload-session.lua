-- NexusArchive offload: remove one chat session (its session hash, messages and attachment references) from Redis,
-- all of it or nothing, only while it is exactly the version the archive holds, and leave the offload marker.
-- NexusArchive checks the content against PostgreSQL first; this script makes the removal atomic against writers:
-- it removes nothing when, since that check, any write through write-record.lua touched the session.
--
-- KEYS[1]      offload marker (hash)            {prefix}:offloaded:{userId}       field = session id, value = epoch ms
-- KEYS[2]      the shard layout (hash)          {prefix}:archive:shards
-- KEYS[3..]    per entity (session, then message, then attachment), each of its change streams (docs/scaling.md: the
--              unsharded stream, then its shards, then the shards being drained; unsharded = the one stream):
--              change index, late horizon, late set. ARGV[6..8] say how many streams each entity has.
-- then         the record hashes, in the order of the ARGV triples below
--              On Redis Cluster every key must hash to one slot: give the prefix a hash tag, e.g. {nexus}. The script
--              also reads the hashes of entries that are not yet archived (the index above the late horizon and the late
--              set), whose names it builds from ARGV[3..4]; they share the prefix and so the slot.
-- ARGV[1]      session id
-- ARGV[2]      offloaded-at, epoch ms (the marker's value)
-- ARGV[3]      message record key prefix      {prefix}:message:
-- ARGV[4]      attachment record key prefix   {prefix}:attachment:
-- ARGV[5]      n, the number of records
-- ARGV[6..8]   the number of change streams of session, message, attachment (the groups of KEYS[3..])
-- ARGV[9..11]  the shard count of session, message, attachment the streams were read for ('1': unsharded); a layout
--              that gives another count now (a reshard since) removes nothing: writes may go to streams not passed
-- ARGV[12..]   n triples: entity ('session' | 'message' | 'attachment'), record id, archived updatedAt (epoch ms), or
--              '' for a record the archive holds that Redis no longer has (it must still be absent)
--
-- Returns { 1, keys removed } when removed;
--         { 0, 'changed', id } when a record's updatedAt is not the archived one (an edit won the race);
--         { 0, 'busy', entity, id } when a write not yet archived (above the late horizon, or in the late set)
--           belongs to the session;
--         { 0, 'no-horizon', entity } when no pass has raised the late horizon of a stream of the entity yet;
--         { 0, 'resharded', entity } when the entity's shard count is not the one the streams were read for.

local sid = ARGV[1]
local n = tonumber(ARGV[5])
local T = 12 -- the first record triple
local message_ids = {}
for i = 0, n - 1 do
  if ARGV[T + 3 * i] == 'message' then
    message_ids[ARGV[T + 1 + 3 * i]] = true
  end
end

-- Each entity's change streams: the first and last KEYS position of its (index, horizon, late set) triples.
local entities = { 'session', 'message', 'attachment' }
local first, last, k = {}, {}, 3
for e = 1, 3 do
  first[e] = k
  k = k + 3 * tonumber(ARGV[5 + e])
  last[e] = k - 1
end
local R = k -- the first record hash

-- Does an unarchived entry of this entity belong to the session?
local function belongs(entity, member)
  if entity == 'session' then
    return member == sid
  end
  if entity == 'message' then
    return message_ids[member] or redis.call('HGET', ARGV[3] .. member, 'sessionId') == sid
  end
  if message_ids[member] then
    return true
  end
  local key = ARGV[4] .. member
  local session = redis.call('HGET', key, 'sessionId')
  if session == sid then
    return true
  end
  local message = redis.call('HGET', key, 'messageId')
  return message and message_ids[message] or false
end

for e = 1, 3 do
  local entity = entities[e]
  if tonumber(redis.call('HGET', KEYS[2], entity) or '1') ~= tonumber(ARGV[8 + e]) then
    return { 0, 'resharded', entity }
  end
  for s = first[e], last[e], 3 do
    local index, horizon_key, late_key = KEYS[s], KEYS[s + 1], KEYS[s + 2]
    local horizon = tonumber(redis.call('GET', horizon_key))
    if not horizon then
      return { 0, 'no-horizon', entity }
    end
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. horizon, '+inf')) do
      if belongs(entity, member) then
        return { 0, 'busy', entity, member }
      end
    end
    for _, member in ipairs(redis.call('ZRANGE', late_key, 0, -1)) do
      if belongs(entity, member) then
        return { 0, 'busy', entity, member }
      end
    end
  end
end

-- Every record still at its archived version (absent ones still absent)?
for i = 0, n - 1 do
  local key, id, expected = KEYS[R + i], ARGV[T + 1 + 3 * i], ARGV[T + 2 + 3 * i]
  if expected == '' then
    if redis.call('EXISTS', key) == 1 then
      return { 0, 'changed', id }
    end
  else
    local current = redis.call('HGET', key, 'updatedAt')
    if not current or tonumber(current) ~= tonumber(expected) then
      return { 0, 'changed', id }
    end
  end
end

local removed = 0
for i = 0, n - 1 do
  local entity, id, expected = ARGV[T + 3 * i], ARGV[T + 1 + 3 * i], ARGV[T + 2 + 3 * i]
  if expected ~= '' then
    removed = removed + redis.call('DEL', KEYS[R + i])
    -- The entry may sit in any stream of the entity (a reshard drains old streams into new ones): remove it from all.
    local e = entity == 'session' and 1 or (entity == 'message' and 2 or 3)
    for s = first[e], last[e], 3 do
      redis.call('ZREM', KEYS[s], id)
    end
  end
end
redis.call('HSET', KEYS[1], sid, ARGV[2])
return { 1, removed }
