-- Removes a connection from its user's registry (nothing when it is not there).
-- KEYS and ARGV 1-2: see lib/registry.lua. ARGV: 3 connectionId.
-- Returns 1 when the user has no live connection left, else 0.
-- include: lib/registry.lua
local Z, H = KEYS[1], KEYS[2]
prune(Z, H)
redis.call('ZREM', Z, ARGV[3])
redis.call('HDEL', H, ARGV[3])
if redis.call('ZCARD', Z) == 0 then return 1 end
return 0
