-- prune(meta, log, nowMs, max, dropped, deferWrite): drops what is over `max` messages and, from the
-- oldest on, what has expired, recording the highest dropped sequence in the meta hash's `dropped`
-- field (unless deferWrite: the caller then writes it with its own HSET). Log members are
-- `<expiresAtMs>|<message JSON>` scored by sequence, so expiry needs no second key; only a prefix of
-- the log is ever dropped. Returns the new `dropped` and the log's length before pruning.
--
-- Three calls for a log at its cap (ZCARD, ZRANGE, ZREMRANGEBYRANK), two below it: the first ZRANGE
-- reads the last member over the cap (its sequence is the new dropped mark) together with the oldest
-- one kept, whose expiry is the usual answer (not expired); only when that one has expired are further
-- ones read, 20 then 100 at a time. Everything dropped goes in one ZREMRANGEBYRANK.
-- scanDropped(rows, from, cut, nowMs, dropped): over ZRANGE ... WITHSCORES rows starting at rank `from`,
-- the members below rank `cut` are dropped (over the cap), the others while expired. Returns whether a
-- live member was met, the new cut and the highest dropped sequence.
local function scanDropped(rows, from, cut, nowMs, dropped)
  for i = 1, #rows, 2 do
    local rank = from + (i - 1) / 2
    if rank >= cut then
      local member = rows[i]
      local bar = string.find(member, '|', 1, true)
      if tonumber(string.sub(member, 1, bar - 1)) > nowMs then return true, cut, dropped end
      cut = rank + 1
    end
    dropped = math.max(dropped, tonumber(rows[i + 1]))
  end
  return false, cut, dropped
end

local function prune(meta, log, nowMs, max, dropped, deferWrite)
  local newDropped = dropped
  local n = redis.call('ZCARD', log)
  -- cut: how many members, from the oldest, are dropped.
  local cut = math.max(n - max, 0)
  local from, count = cut, 1
  if cut > 0 then from, count = cut - 1, 2 end
  while from < n do
    local rows = redis.call('ZRANGE', log, int(from), int(from + count - 1), 'WITHSCORES')
    local live
    live, cut, newDropped = scanDropped(rows, from, cut, nowMs, newDropped)
    if live then break end
    from = from + count
    count = math.min(count * 10, 100)
  end
  if cut > 0 then redis.call('ZREMRANGEBYRANK', log, 0, int(cut - 1)) end
  if newDropped ~= dropped and not deferWrite then redis.call('HSET', meta, 'dropped', int(newDropped)) end
  return newDropped, n
end
