-- Removes the first events of an endpoint's queue while they are the given ids, in order; with
-- letters, stores them (WebhookStore.ack / deadLetter). KEYS[1]: see lib/webhooks.lua.
-- ARGV: 1 endpoint, 2 now, 3 most letters, 4 letter lifetime (ms), 5 number of ids n, 6..5+n ids,
-- then per letter: id, tenant id, letter JSON. Returns the events removed.
-- include: lib/webhooks.lua
local ep, now, most, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local q = P .. 'q:' .. ep
local removed = 0
for i = 6, 5 + n do
  local head = redis.call('LINDEX', q, 0)
  if not head then break end
  local a = string.find(head, '|', 1, true)
  local b = string.find(head, '|', a + 1, true)
  if string.sub(head, a + 1, b - 1) ~= ARGV[i] then break end
  redis.call('LPOP', q)
  removed = removed + 1
end
if redis.call('LLEN', q) == 0 then redis.call('SREM', P .. 'active', ep) end
for i = 6 + n, #ARGV, 3 do
  redis.call('HSET', P .. 'dl', ARGV[i], ARGV[i + 2])
  redis.call('ZADD', P .. 'dl:all', 0, ARGV[i])
  redis.call('ZADD', P .. 'dl:t:' .. ARGV[i + 1], 0, ARGV[i])
end
if #ARGV >= 6 + n then
  -- Letter ids start with `dl_` and the failure time in 13 digits: the oldest sort first.
  local cutoff = string.format('dl_%013d', math.max(0, now - ttl))
  for _, id in ipairs(redis.call('ZRANGEBYLEX', P .. 'dl:all', '-', '(' .. cutoff)) do forget_letter(id) end
  local over = redis.call('ZCARD', P .. 'dl:all') - most
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', P .. 'dl:all', 0, over - 1)) do forget_letter(id) end
  end
end
return removed
