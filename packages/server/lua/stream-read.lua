-- A page of a room's stored messages, pruning expired ones first.
--
-- KEYS: 1 meta hash, 2 log sorted set
-- ARGV: 1 since mode: none | id | mark (a position taken when the room had no history) | bad,
--       2 since epoch, 3 since sequence, 4 limit, 5 maxMessages,
--       6 before sequence ('' for none), 7 direction f | b, 8 idleMs (how long a history outlives
--       its last append)
-- Returns {recovered 1|0, hasMore 1|0, member...}, members oldest first (f) or newest first (b).
--
-- recovered: 1 without `since`; with an id of the current epoch, 1 when nothing after it was dropped;
-- with a mark, 1 when the history began after it and dropped nothing (or, with no history, when a
-- history begun after the mark would still exist); 0 otherwise.
-- include: lib/int.lua
-- include: lib/clock.lua
-- include: lib/prune.lua
local meta, log = KEYS[1], KEYS[2]
local mode, sinceSeq, limit = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', meta, 'epoch', 'seq', 'dropped', 'start')
local epoch = state[1]
if not epoch then
  if mode == 'none' then return {1, 0} end
  if mode == 'mark' then
    local _, micros = now()
    if micros - sinceSeq < tonumber(ARGV[8]) * 1000 then return {1, 0} end
  end
  return {0, 0}
end
local nowMs = now()
local dropped = prune(meta, log, nowMs, tonumber(ARGV[5]), tonumber(state[3]) or 0)
local recovered = 0
local after = '-inf'
if mode == 'none' then
  recovered = 1
elseif mode == 'id' and ARGV[2] == epoch then
  if sinceSeq >= dropped and sinceSeq <= tonumber(state[2]) then recovered = 1 end
  after = '(' .. ARGV[3]
elseif mode == 'mark' then
  local start = tonumber(state[4])
  if start and start > sinceSeq and dropped == 0 then recovered = 1 end
  after = '(' .. ARGV[3]
end
local upto = '+inf'
if ARGV[6] ~= '' then upto = '(' .. ARGV[6] end
local rows
if ARGV[7] == 'b' then
  rows = redis.call('ZREVRANGEBYSCORE', log, upto, after, 'LIMIT', 0, limit + 1)
else
  rows = redis.call('ZRANGEBYSCORE', log, after, upto, 'LIMIT', 0, limit + 1)
end
local out = {recovered, 0}
if #rows > limit then out[2] = 1 end
for i = 1, math.min(#rows, limit) do out[#out + 1] = rows[i] end
return out
