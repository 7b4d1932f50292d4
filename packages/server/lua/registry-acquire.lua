-- Registers a connection unless its user already holds `max` other live connections, in one step, so
-- the cap holds whatever the interleaving of acquires on any instances.
-- KEYS and ARGV 1-2: see lib/registry.lua. ARGV: 3 connectionId, 4 record JSON, 5 max (0 = no limit).
-- Returns {held 1|0, first 1|0}: first when held and the user has no other live connection.
-- include: lib/registry.lua
local cid, max = ARGV[3], tonumber(ARGV[5])
local Z, H = KEYS[1], KEYS[2]
prune(Z, H)
local others = redis.call('ZCARD', Z)
if redis.call('ZSCORE', Z, cid) then others = others - 1 end
if max > 0 and others >= max then return {0, 0} end
put(Z, H, cid, ARGV[4])
keep(Z, H)
if others == 0 then return {1, 1} end
return {1, 0}
