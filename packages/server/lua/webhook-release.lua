-- Settles held leaves whose grace window ended (WebhookStore.settle): queues some, forgets others.
-- A subject no longer held was settled by another instance (or cancelled) and is skipped.
-- KEYS[1]: see lib/webhooks.lua. ARGV: 1 now, 2 queue cap, 3 number n of subjects to queue,
-- 4..3+n those subjects in order, then the subjects to forget. Returns the events queued.
-- include: lib/webhooks.lua
local now, max, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local queued = 0
for i = 4, #ARGV do
  local subject = ARGV[i]
  local held = redis.call('HGET', P .. 'held', subject)
  redis.call('HDEL', P .. 'held', subject)
  redis.call('ZREM', P .. 'due', subject)
  if held and i <= 3 + n then
    local a = string.find(held, '\n', 1, true)
    local b = string.find(held, '\n', a + 1, true)
    enqueue_all(string.sub(held, 1, a - 1), string.sub(held, a + 1, b - 1), string.sub(held, b + 1), now, max)
    queued = queued + 1
  end
end
return queued
