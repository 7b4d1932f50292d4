-- Registers or refreshes connections of one user, whatever their number: the owners' upsert that
-- brings back what a Redis restarted without its data lost.
-- KEYS and ARGV 1-2: see lib/registry.lua. ARGV: from 3 on, pairs of connectionId and record JSON.
-- include: lib/registry.lua
local Z, H = KEYS[1], KEYS[2]
prune(Z, H)
for i = 3, #ARGV, 2 do put(Z, H, ARGV[i], ARGV[i + 1]) end
keep(Z, H)
return 0
