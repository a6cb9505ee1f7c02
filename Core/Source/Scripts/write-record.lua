-- NexusArchive record writer: the only supported way to write a record NexusArchive archives.
-- Checks the whole write first, then updates the record hash, its change index and the write counter atomically
-- (a Lua script runs as one unit). A refused write changes nothing and returns an error that starts with
-- "ERR nexus: " and names the record and the problem, e.g.
--   ERR nexus: message m-42: updatedAt 1796231208 looks like seconds; send epoch milliseconds or "*"
--
-- KEYS[1]  record hash                      {prefix}:{entity}:{id}           e.g. nexus:message:m-42
-- KEYS[2]  change index (zset)              {prefix}:changes:{entity}        e.g. nexus:changes:message
-- KEYS[3]  write counter (string)           {prefix}:writes:{entity}         incremented by every write
-- KEYS[4]  late horizon (string, epoch ms)  {prefix}:archive:horizon:{entity} raised by NexusArchive before each pass
-- KEYS[5]  late set (zset)                  {prefix}:late:{entity}           writes at or below the horizon
--          All five keys share one prefix and one entity, and KEYS[1] is the record key of ARGV[1].
--          On Redis Cluster they must hash to one slot: give the prefix a hash tag, e.g. {nexus}.
--          Shards (docs/scaling.md): when the hash {prefix}:archive:shards gives the entity a count N > 1, the write
--          goes to the shard s = h mod N of the id, h = (h * 31 + byte) mod 2147483647 over the id's bytes from h = 0,
--          and KEYS[2..5] are replaced by that shard's keys {prefix}:changes:{{entity}.{s}of{N}} and so on. The script
--          reads the layout and those keys by name, under the same prefix (and so the same hash tag).
-- ARGV[1]  record id (the index member)
-- ARGV[2]  updatedAt in Unix epoch milliseconds, or '*' to stamp it from the Redis server clock (TIME)
-- ARGV[3]  'merge'   : set the given fields, keep the others
--          'replace' : the hash becomes exactly the given fields
-- ARGV[4]  'always'   : write unconditionally
--          'if-newer' : write only if the index holds no score >= ARGV[2] for this id (restore uses this)
-- ARGV[5..] field, value, field, value, ...
--
-- Checked before anything changes: the key and argument shapes above; the mode words (exactly as written);
-- updatedAt and every timestamp field (epoch ms between EARLIEST_MS and the Redis clock + MAX_AHEAD_MS, or ISO-8601
-- YYYY-MM-DDTHH:MM:SS[.fffffff][Z|+HH:MM|-HH:MM] for timestamp fields; "" means no value, e.g. deletedAt "" = not
-- deleted); integers; allowed values; JSON objects; no NUL anywhere; a required field is never "", and a new record
-- (the hash does not exist, or mode 'replace') carries every required field. An 'id' field must equal ARGV[1].
--
-- The script always stores the final score as the hash's id and updatedAt fields (an 'updatedAt' field in ARGV is
-- replaced), so the index score and the record can never disagree. A write whose score is at or below the late
-- horizon is also added to the late set, which every pass drains.
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

-- A value as it appears in an error: digits as they are, anything else quoted, long values cut.
local function show(value)
  if string.find(value, '^%-?%d+$') and #value <= 24 then
    return value
  end
  if #value > 60 then
    value = string.sub(value, 1, 60) .. '...'
  end
  return '"' .. value .. '"'
end

-- An id as it appears in an error: as it is when it is plain, quoted otherwise.
local function show_id(value)
  if #value <= 60 and string.find(value, '^[A-Za-z0-9_%.%-:]+$') then
    return value
  end
  return show(value)
end

local function ms_text(n)
  return string.format('%.0f', n)
end

-- Why an epoch-ms number is implausible, or nil when it is plausible.
local function ms_problem(n, now)
  local latest = now + MAX_AHEAD_MS
  if n >= EARLIEST_MS and n <= latest then
    return nil
  end
  if n <= 0 then
    return 'is not a positive epoch milliseconds value'
  end
  if n >= EARLIEST_MS / 1000 and n <= latest / 1000 then
    return 'looks like seconds'
  end
  if n >= EARLIEST_MS * 1000 and n <= latest * 1000 then
    return 'looks like microseconds'
  end
  if n >= EARLIEST_MS * 1000000 and n <= latest * 1000000 then
    return 'looks like nanoseconds'
  end
  if n > latest then
    return 'lies more than ' .. MAX_AHEAD_TEXT .. ' ahead of the Redis clock (' .. ms_text(now) .. ')'
  end
  return 'lies before ' .. EARLIEST_TEXT .. ' (' .. ms_text(EARLIEST_MS) .. ')'
end

-- ISO-8601 YYYY-MM-DDTHH:MM:SS[.f{1,7}][Z|+HH:MM|-HH:MM] (no offset = UTC) to epoch ms, or nil.
local function iso_ms(text)
  local y, mo, d, h, mi, s, rest = string.match(text, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$')
  if not y then
    return nil
  end
  local fraction = 0
  local digits = string.match(rest, '^%.(%d+)')
  if digits then
    if #digits > 7 then
      return nil
    end
    fraction = tonumber(string.sub(digits .. '00', 1, 3))
    rest = string.sub(rest, #digits + 2)
  end
  local offset = 0
  if rest ~= '' and rest ~= 'Z' then
    local sign, oh, om = string.match(rest, '^([+-])(%d%d):(%d%d)$')
    if not sign then
      return nil
    end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 14 or om > 59 then
      return nil
    end
    offset = (oh * 60 + om) * 60000
    if sign == '-' then
      offset = -offset
    end
  end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or h > 23 or mi > 59 or s > 59 then
    return nil
  end
  local last = ({ 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[mo]
  if mo == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then
    last = 29
  end
  if d > last then
    return nil
  end
  -- days from 1970-01-01 (H. Hinnant's days_from_civil)
  if mo <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  return ((days * 24 + h) * 60 + mi) * 60000 + s * 1000 + fraction - offset
end

local function is_int64(text)
  local sign, digits = string.match(text, '^(%-?)(%d+)$')
  if not digits or #digits > 19 then
    return false
  end
  if #digits == 19 then
    return digits <= (sign == '-' and '9223372036854775808' or '9223372036854775807')
  end
  return true
end

-- Why a field value breaks its rule, or nil.
local function field_problem(kind, allowed, required, name, value, now)
  if value == '' then
    for _, field in ipairs(required) do
      if field == name then
        return 'required field ' .. name .. ' is empty'
      end
    end
    if not allowed then
      return nil -- "" in a typed field means no value (deletedAt "" = not deleted)
    end
  end
  if allowed then
    for _, word in ipairs(allowed) do
      if value == word then
        return nil
      end
    end
    return name .. ' ' .. show(value) .. ' must be one of ' .. table.concat(allowed, '|')
  elseif kind == 'timestamp' then
    local hint = '; send epoch milliseconds'
    if name == 'deletedAt' then
      hint = hint .. ', or "" for not deleted'
    end
    local problem
    if string.find(value, '^%-?%d+$') then
      problem = ms_problem(tonumber(value), now)
    else
      local n = iso_ms(value)
      if not n then
        problem = 'is neither epoch milliseconds nor ISO-8601 (YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM])'
      elseif n < EARLIEST_MS then
        problem = 'lies before ' .. EARLIEST_TEXT
      elseif n > now + MAX_AHEAD_MS then
        problem = ms_problem(n, now)
      end
    end
    if problem then
      return name .. ' ' .. show(value) .. ' ' .. problem .. hint
    end
  elseif kind == 'integer' then
    if not is_int64(value) then
      return name .. ' ' .. show(value) .. ' is not a 64-bit decimal integer'
    end
  elseif kind == 'json' then
    if not string.find(value, '^[ \t\r\n]*{') then
      return name .. ' ' .. show(value) .. ' is not a JSON object'
    end
    if not pcall(cjson.decode, value) then
      return name .. ' ' .. show(value) .. ' is not valid JSON'
    end
    if string.find(value, '\\u0000', 1, true) then
      return name .. ' contains \\u0000, which PostgreSQL jsonb cannot store'
    end
  end
  return nil
end

local function refuse(message)
  return redis.error_reply('ERR nexus: ' .. message)
end

-- Shape: keys and arguments.
if #KEYS ~= 5 then
  return refuse(#KEYS .. ' keys passed; the writer needs exactly 5: KEYS[1] record hash {prefix}:{entity}:{id}, '
    .. 'KEYS[2] change index {prefix}:changes:{entity}, KEYS[3] write counter {prefix}:writes:{entity}, '
    .. 'KEYS[4] late horizon {prefix}:archive:horizon:{entity}, KEYS[5] late set {prefix}:late:{entity}')
end
if #ARGV < 4 then
  return refuse(#ARGV .. ' arguments passed; the writer needs id, updatedAt, mode, condition, then field/value pairs')
end

local id = ARGV[1]
local prefix, entity = string.match(KEYS[2], '^(.+):changes:([^:]+)$')
local rules = entity and entity_rules(entity)
if not rules then
  return refuse('KEYS[2] ' .. show(KEYS[2]) .. ' is not the change index {prefix}:changes:{entity} of a known entity ('
    .. ENTITY_NAMES .. ')')
end
local subject = entity .. ' ' .. show_id(id) .. ': '
if id == '' or string.find(id, '\0', 1, true) then
  return refuse(subject .. 'the id must be non-empty text without NUL')
end
if #prefix > 64 or not (string.find(prefix, '^[A-Za-z0-9_%.%-]+$')
    or string.find(prefix, '^[A-Za-z0-9_%.%-]*{[A-Za-z0-9_%.%-]+}[A-Za-z0-9_%.%-]*$')) then
  return refuse(subject .. 'key prefix ' .. show(prefix) .. ' is invalid: use 1-64 letters, digits, _ . - and at most one {hash tag}')
end
local function check_key(i, expected)
  if KEYS[i] == expected then
    return nil
  end
  local what = i == 1 and ('is not the record key of id ' .. show_id(id)) or ('does not belong to ' .. entity .. ' under prefix ' .. show(prefix))
  return refuse(subject .. 'KEYS[' .. i .. '] ' .. show(KEYS[i]) .. ' ' .. what .. ' (expected ' .. show(expected) .. ')')
end
local refused = check_key(1, prefix .. ':' .. entity .. ':' .. id)
  or check_key(3, prefix .. ':writes:' .. entity)
  or check_key(4, prefix .. ':archive:horizon:' .. entity)
  or check_key(5, prefix .. ':late:' .. entity)
if refused then
  return refused
end

-- The change stream of this write: the entity's own keys, or its shard's when the layout shards the entity.
local index_key, counter_key, horizon_key, late_key = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local shard_count = redis.call('HGET', prefix .. ':archive:shards', entity)
if shard_count then
  local n = tonumber(shard_count)
  if not n or n < 1 or n > 256 or n ~= math.floor(n) then
    return refuse(subject .. 'the shard layout ' .. prefix .. ':archive:shards gives ' .. entity .. ' ' .. show(shard_count)
      .. ' shards; it must be a count from 1 to 256 (set it with nexus-archive reshard)')
  end
  if n > 1 then
    local h = 0
    for i = 1, #id do
      h = (h * 31 + string.byte(id, i)) % 2147483647
    end
    local stream = '{' .. entity .. '.' .. (h % n) .. 'of' .. n .. '}'
    index_key = prefix .. ':changes:' .. stream
    counter_key = prefix .. ':writes:' .. stream
    horizon_key = prefix .. ':archive:horizon:' .. stream
    late_key = prefix .. ':late:' .. stream
  end
end

if (#ARGV - 4) % 2 ~= 0 then
  return refuse(subject .. (#ARGV - 4) .. ' field arguments passed; fields come as field, value pairs (an even count)')
end
local mode, condition = ARGV[3], ARGV[4]
if mode ~= 'merge' and mode ~= 'replace' then
  return refuse(subject .. 'mode ' .. show(mode) .. ' must be exactly merge or replace')
end
if condition ~= 'always' and condition ~= 'if-newer' then
  return refuse(subject .. 'condition ' .. show(condition) .. ' must be exactly always or if-newer')
end

-- updatedAt (the change score).
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local score
if ARGV[2] == '*' then
  score = now
else
  if not string.find(ARGV[2], '^%-?%d+$') then
    return refuse(subject .. 'updatedAt ' .. show(ARGV[2]) .. ' is not whole epoch milliseconds; send epoch milliseconds or "*"')
  end
  score = tonumber(ARGV[2])
  local problem = ms_problem(score, now)
  if problem then
    return refuse(subject .. 'updatedAt ' .. show(ARGV[2]) .. ' ' .. problem .. '; send epoch milliseconds or "*"')
  end
end
score = ms_text(score)

-- Fields.
local kinds, allowed, required = rules.kinds, rules.allowed or {}, rules.required
local seen = {} -- the checked fields sent
local updated_at_field = false
for i = 5, #ARGV, 2 do
  local name, value = ARGV[i], ARGV[i + 1]
  if string.find(name, '\0', 1, true) then
    return refuse(subject .. 'field name ' .. show(name) .. ' contains NUL')
  end
  if string.find(value, '\0', 1, true) then
    return refuse(subject .. name .. ' contains NUL, which PostgreSQL text cannot store')
  end
  if name == 'id' and value ~= id then
    return refuse(subject .. 'field id ' .. show(value) .. ' differs from ARGV[1] ' .. show_id(id))
  end
  local kind = kinds[name]
  if kind then
    local words = allowed[name]
    if kind ~= 'text' or value == '' or words then -- a required text field that is not empty needs no more
      local problem = field_problem(kind, words, required, name, value, now)
      if problem then
        return refuse(subject .. problem)
      end
    end
    seen[name] = true
  elseif name == 'updatedAt' then
    updated_at_field = true
  end
end
local missing = {}
for _, name in ipairs(required) do
  if not seen[name] then
    missing[#missing + 1] = name
  end
end
if #missing > 0 and (mode == 'replace' or redis.call('EXISTS', KEYS[1]) == 0) then
  local what = mode == 'replace' and 'a replace' or 'a new record'
  return refuse(subject .. what .. ' must carry every required field; missing: ' .. table.concat(missing, ', '))
end

-- Checked: now write.
if condition == 'if-newer' then
  -- The index's score, or the record's own updatedAt (the writer keeps them equal) while a reshard drains: then the
  -- newest entry may still sit in the index of the previous layout.
  local current = redis.call('ZSCORE', index_key, id) or redis.call('HGET', KEYS[1], 'updatedAt')
  if current and tonumber(current) and tonumber(current) >= tonumber(score) then
    return { 0, current }
  end
end

local horizon = redis.call('GET', horizon_key)
local late = horizon and (tonumber(horizon) == nil or tonumber(score) <= tonumber(horizon))

redis.call('INCR', counter_key)
if mode == 'replace' then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'id', id, 'updatedAt', score, unpack(ARGV, 5))
if updated_at_field then
  redis.call('HSET', KEYS[1], 'updatedAt', score) -- the score wins over an updatedAt field
end
redis.call('ZADD', index_key, score, id)
if late then
  redis.call('ZADD', late_key, score, id)
end
return { 1, score }
