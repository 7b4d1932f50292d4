-- registry-release.lua for several connections in one call (the releases of one event-loop turn), on a
-- single Redis only (different users' keys are in different Cluster slots), each as if by its own call,
-- in KEYS order.
-- KEYS: per connection, the user's registry pair (lib/registry.lua).
-- ARGV: 1 now, 2 staleMs (of the first connection), then per connection, in KEYS order, 2 values: now
-- (ms) and connectionId.
-- Returns per connection, in KEYS order, 1 when its user has no live connection left, else 0.
-- include: lib/registry.lua
local out = {}
local a = 3
for k = 1, #KEYS, 2 do
  at(ARGV[a])
  local Z, H = KEYS[k], KEYS[k + 1]
  prune(Z, H)
  redis.call('ZREM', Z, ARGV[a + 1])
  redis.call('HDEL', H, ARGV[a + 1])
  if redis.call('ZCARD', Z) == 0 then out[#out + 1] = 1 else out[#out + 1] = 0 end
  a = a + 2
end
return out
