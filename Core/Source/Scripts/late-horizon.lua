-- NexusArchive: raise an entity's late horizon (never lower it), before a pass reads the change index.
-- A write the record writer stamps at or below the horizon may land behind the pass, so the writer also records it
-- in the late set, which every pass drains.
-- KEYS[1]  late horizon (string, epoch ms)   e.g. nexus:archive:horizon:message
-- ARGV[1]  the highest score the pass will read (epoch ms)
-- Returns the horizon after the call.
local current = tonumber(redis.call('GET', KEYS[1]))
local wanted = tonumber(ARGV[1])
if current == nil or current < wanted then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(current)
