-- NexusArchive: remove drained entries from an entity's late set, each only while it still carries the score the
-- pass read and archived. An entry written late again meanwhile (a new score) stays for the next pass.
-- KEYS[1]  late set (zset)   e.g. nexus:late:message
-- ARGV     member, score, member, score, ...
-- Returns how many entries were removed.
local removed = 0
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if current and tonumber(current) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
