-- Adds events in order (WebhookStore.add). KEYS[1]: see lib/webhooks.lua.
-- ARGV: 1 now, 2 grace (ms), 3 queue cap, then per event: id, JSON, hold kind ('', enter, leave),
-- subject, endpoints (comma-separated). Returns the (event, endpoint) pairs dropped by the cap.
-- include: lib/webhooks.lua
local now, grace, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dropped = 0
for i = 4, #ARGV, 5 do
  local id, json, kind, subject, eps = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if kind == 'leave' and grace > 0 then
    local seq = redis.call('INCR', P .. 'seq') % 1000
    redis.call('HSET', P .. 'held', subject, eps .. '\n' .. id .. '\n' .. json)
    redis.call('ZADD', P .. 'due', (now + grace) * 1000 + seq, subject)
  elseif kind == 'enter' and redis.call('HDEL', P .. 'held', subject) == 1 then
    redis.call('ZREM', P .. 'due', subject)
  else
    dropped = dropped + enqueue_all(eps, id, json, now, max)
  end
end
return dropped
