-- Appends several messages, to one room or several, in one atomic step: each message in turn as
-- stream-append-limited.lua (or stream-append.lua, without buckets) would, one call after the other at
-- the same instant: its buckets, its duplicate check, its id, its storage and its publication, and each
-- answered on its own (a refusal or a duplicate concerns that message only). Done together, the calls
-- are shared: one reading of Redis's clock, each room's meta hash read and written once, its log added
-- to in one ZADD and pruned once, the duplicate-window keys and buckets read in one MGET, each bucket
-- written once.
--
-- KEYS: per room r = 1..R: 2r-1 meta hash, 2r log sorted set (as stream-append.lua's KEYS 1-2);
--       then the duplicate-window keys and the buckets, which the messages name by their index in KEYS.
--       On a Cluster every key is one room's (no buckets: they are taken before, in their own slot).
-- ARGV: 1 ttlMs, 2 maxMessages, 3 idleMs, 4 dedupeMs, 5 PUBLISH | SPUBLISH | '' (no publication),
--       6 R; per room r, ARGV[5 + 2r] epoch for a new history, ARGV[6 + 2r] channel;
--       then per message, in publish order: room r, message JSON without id and without its opening `{`,
--       persistent 1|0, index in KEYS of its duplicate-window key (0: no clientMessageId), envelope head
--       (as stream-append.lua's ARGV 11), number of buckets b, then b times: the bucket's index in
--       KEYS, rate (tokens/s), burst, cost.
-- Returns one reply per message, in order: {0, id} for a new message, {1, first message JSON} for a
-- duplicate, {2, retryAfterMs, refusedBy (1-based among the message's buckets)} when a bucket is short
-- (that message is not appended, published or charged to any bucket).
-- include: lib/int.lua
-- include: lib/clock.lua
-- include: lib/prune.lua
local nowMs, micros = now()
local ttlMs, max, idle, dedupeMs, publish = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local every = idle / 8
local ttl = int(idle + every)

-- A room's state, read on its first message that gets an id (a room whose messages are all refused or
-- duplicates is not touched): as lib/append.lua reads it.
local rooms = {}
local function room(r)
  local s = rooms[r]
  if s then return s end
  local state = redis.call('HMGET', KEYS[2 * r - 1], 'epoch', 'seq', 'dropped', 'mk', 'lk')
  s = {epoch = state[1], seq = tonumber(state[2]), dropped = tonumber(state[3]) or 0, metaKept = tonumber(state[4]), logKept = tonumber(state[5]), fields = {}, log = {}, prev = ''}
  if s.epoch then
    s.prev = string.format('%016d', s.seq) .. '-' .. s.epoch
  else
    s.epoch = ARGV[5 + 2 * r]
    s.seq = micros - 1
    s.dropped, s.metaKept, s.logKept = 0, nil, nil
    s.fields = {'epoch', s.epoch, 'dropped', '0', 'start', int(micros)}
  end
  rooms[r] = s
  return s
end

-- The duplicate-window keys and buckets, all read in one MGET (on a single Redis; on a Cluster they are
-- the duplicate-window keys of the one room, in its slot).
local firstExtra = 2 * tonumber(ARGV[6]) + 1
local extras = {}
if #KEYS >= firstExtra then extras = redis.call('MGET', unpack(KEYS, firstExtra)) end
local function stored(k) return extras[k - firstExtra + 1] end

-- Buckets by KEYS index: `tokens` as lib/consume.lua computes them at this instant (refilled, not yet
-- capped: each message caps them at its own capacity), `write` once a message took from it.
local buckets = {}
local function tokensOf(k)
  local b = buckets[k]
  if b then return b end
  local state = stored(k)
  b = {tokens = math.huge}
  if state then
    local bar = string.find(state, '|', 1, true)
    b.stored = tonumber(string.sub(state, 1, bar - 1)) / 1000000
    b.elapsed = math.max(0, micros - tonumber(string.sub(state, bar + 1)))
  end
  buckets[k] = b
  return b
end
-- The message's buckets from ARGV[a]: all taken, or none. Returns nil, or the refusal's {2, retry, by}.
local function take(a, nb)
  local allowed, retry, by = true, 0, 0
  local took = {}
  for i = 1, nb do
    local j = a + 4 * (i - 1)
    local b = tokensOf(tonumber(ARGV[j]))
    local rate, burst, cost = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
    local capacity = math.max(burst, cost)
    if b.stored then
      -- First use in this call: refilled at this message's rate, as the single call computes it.
      b.tokens = b.stored + b.elapsed * rate / 1000000
      b.stored = nil
    end
    local tk = math.min(capacity, b.tokens)
    took[i] = {b, tk - cost, rate, capacity}
    if tk < cost then
      if allowed then by = i end
      allowed = false
      retry = math.max(retry, math.ceil((cost - tk) * 1000 / rate))
    end
  end
  if not allowed then return {2, retry, by} end
  for i = 1, nb do
    local t = took[i]
    t[1].tokens, t[1].rate, t[1].capacity, t[1].write = t[2], t[3], t[4], true
  end
  return nil
end

-- Duplicate-window keys set by this call: KEYS index -> the message stored under it.
local seen = {}
local out = {}
local a = 7 + 2 * tonumber(ARGV[6])
while a <= #ARGV do
  local r, json, persistent, dk, head, nb = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], tonumber(ARGV[a + 5])
  local refused = nil
  if nb > 0 then refused = take(a + 6, nb) end
  a = a + 6 + 4 * nb
  local prior = nil
  if not refused and dk > 0 then prior = seen[dk] or stored(dk) end
  if refused then
    out[#out + 1] = refused
  elseif prior then
    out[#out + 1] = {1, prior}
  else
    local s = room(r)
    -- Never below the clock (see stream-append.lua).
    s.seq = math.max(s.seq + 1, micros)
    local id = string.format('%016d', s.seq) .. '-' .. s.epoch
    -- Every string a script makes costs Redis in proportion to its length (~13 ns a byte here: Lua hashes
    -- and interns it), and the message is most of it: the message alone is made only when the duplicate
    -- window keeps it, the stored member and the published text are each made in one concatenation.
    local opening = '{"id":"' .. id .. '",'
    local message = dk > 0 and opening .. json or nil
    if persistent == '1' and max > 0 then
      s.log[#s.log + 1] = int(s.seq)
      s.log[#s.log + 1] = message and int(nowMs + ttlMs) .. '|' .. message or int(nowMs + ttlMs) .. '|' .. opening .. json
    end
    s.appended = true
    if message then
      redis.call('SET', KEYS[dk], message, 'PX', dedupeMs)
      seen[dk] = message
    end
    if publish ~= '' then
      if message then redis.call(publish, ARGV[6 + 2 * r], head .. message .. ',"p":"' .. s.prev .. '"}')
      else redis.call(publish, ARGV[6 + 2 * r], head .. opening .. json .. ',"p":"' .. s.prev .. '"}') end
    end
    s.prev = id
    out[#out + 1] = {0, id}
  end
end

-- A room's log after this call's ZADD of `added` members (the first scored `firstSeq`), pruned as
-- lib/prune.lua does. One message: without its ZCARD: ranks -(max + 2) .. -max are, when the log holds
-- from max to max + 1 members (a room kept at its cap: the usual case), the member over the cap and the
-- oldest one kept; when it holds fewer than max, none (the oldest is then read alone). More than that
-- (the cap was lowered) takes lib/prune.lua. Several messages take lib/prune.lua at once: its ZCARD
-- costs less than reading back every member over the cap (whole messages: a script pays for every
-- string it makes by its length), where it reads the last one and the oldest kept alone. Returns the
-- new `dropped` and whether the log holds only what this call added (it was just created, and has no
-- expiry yet).
local function trim(log, dropped, added, firstSeq)
  if added > 1 then
    local newDropped, n = prune(nil, log, nowMs, max, dropped, true)
    return newDropped, n == added
  end
  local rows = redis.call('ZRANGE', log, int(-(max + added + 1)), int(-max), 'WITHSCORES')
  local c = #rows / 2
  if c > added + 1 then
    local newDropped, n = prune(nil, log, nowMs, max, dropped, true)
    return newDropped, n == added
  end
  local cut, created = 0, false
  if c == 0 then
    rows = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
    created = tonumber(rows[2]) == firstSeq
  else
    cut = c - 1
    created = c + max - 1 == added
  end
  -- `rows` holds ranks from `from` on; those below `cut` are over the cap, the others go while expired.
  local newDropped, from, count = dropped, 0, #rows / 2
  while true do
    local live
    live, cut, newDropped = scanDropped(rows, from, cut, nowMs, newDropped)
    if live or #rows < 2 * count or count == 0 then break end
    from = from + count
    count = math.min(count * 10, 100)
    rows = redis.call('ZRANGE', log, int(from), int(from + count - 1), 'WITHSCORES')
  end
  if cut > 0 then redis.call('ZREMRANGEBYRANK', log, 0, int(cut - 1)) end
  return newDropped, created
end

-- Each room's log and meta hash once, with the expiry rule of lib/append.lua.
for r, s in pairs(rooms) do
  local meta, log, fields = KEYS[2 * r - 1], KEYS[2 * r], s.fields
  fields[#fields + 1] = 'seq'
  fields[#fields + 1] = int(s.seq)
  local keepMeta = not s.metaKept or nowMs - s.metaKept >= every
  if #s.log > 0 then
    redis.call('ZADD', log, unpack(s.log))
    local newDropped, created = trim(log, s.dropped, #s.log / 2, tonumber(s.log[1]))
    if newDropped ~= s.dropped then
      fields[#fields + 1] = 'dropped'
      fields[#fields + 1] = int(newDropped)
    end
    if not s.logKept or created or nowMs - s.logKept >= every then
      redis.call('PEXPIRE', log, ttl)
      fields[#fields + 1] = 'lk'
      fields[#fields + 1] = int(nowMs)
      keepMeta = true
    end
  end
  if keepMeta then
    fields[#fields + 1] = 'mk'
    fields[#fields + 1] = int(nowMs)
  end
  redis.call('HSET', meta, unpack(fields))
  if keepMeta then redis.call('PEXPIRE', meta, ttl) end
end

for k, b in pairs(buckets) do
  if b.write then
    redis.call('SET', KEYS[k], string.format('%d', math.floor(b.tokens * 1000000)) .. string.format('|%d', micros), 'PX', string.format('%d', math.ceil((b.capacity - b.tokens) * 1000 / b.rate) + 1000))
  end
end
return out
