-- prune(meta, log, nowMs, max, dropped, deferWrite): drops what is over `max` messages and, from the
-- oldest on, what has expired, recording the highest dropped sequence in the meta hash's `dropped`
-- field (unless deferWrite: the caller then writes it with its own HSET). Log members are
-- `<expiresAtMs>|<message JSON>` scored by sequence, so expiry needs no second key; only a prefix of
-- the log is ever dropped. Returns the new `dropped` and the log's length before pruning.
local function prune(meta, log, nowMs, max, dropped, deferWrite)
  local newDropped = dropped
  local n = redis.call('ZCARD', log)
  if n > max then
    local cut = redis.call('ZRANGE', log, n - max - 1, n - max - 1, 'WITHSCORES')
    newDropped = math.max(newDropped, tonumber(cut[2]))
    redis.call('ZREMRANGEBYRANK', log, 0, n - max - 1)
  end
  -- The oldest message alone first (the usual answer: not expired), then up to 100 at a time.
  local batch = 1
  while true do
    local head = redis.call('ZRANGE', log, 0, batch - 1, 'WITHSCORES')
    local expired = 0
    for i = 1, #head, 2 do
      local member = head[i]
      local bar = string.find(member, '|', 1, true)
      if tonumber(string.sub(member, 1, bar - 1)) > nowMs then break end
      expired = expired + 1
      newDropped = math.max(newDropped, tonumber(head[i + 1]))
    end
    if expired > 0 then redis.call('ZREMRANGEBYRANK', log, 0, expired - 1) end
    if expired < batch then break end
    batch = math.min(batch * 10, 100)
  end
  if newDropped ~= dropped and not deferWrite then redis.call('HSET', meta, 'dropped', int(newDropped)) end
  return newDropped, n
end
