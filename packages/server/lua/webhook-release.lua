-- Queues held leaves whose grace window ended, in the order they were held (WebhookStore.release).
-- KEYS[1]: see lib/webhooks.lua. ARGV: 1 now, 2 queue cap, 3 most events. Returns the events queued.
-- include: lib/webhooks.lua
local now, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now * 1000 + 999, 'LIMIT', 0, tonumber(ARGV[3]))
for _, subject in ipairs(due) do
  local held = redis.call('HGET', P .. 'held', subject)
  redis.call('HDEL', P .. 'held', subject)
  redis.call('ZREM', P .. 'due', subject)
  if held then
    local a = string.find(held, '\n', 1, true)
    local b = string.find(held, '\n', a + 1, true)
    enqueue_all(string.sub(held, 1, a - 1), string.sub(held, a + 1, b - 1), string.sub(held, b + 1), now, max)
  end
end
return #due
