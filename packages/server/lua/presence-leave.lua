-- A connection leaves a room. KEYS, ARGV 1-2 and the answer: see lib/presence.lua.
-- ARGV: 3 connectionId. Returns {} when the connection had no entry.
-- include: lib/presence.lua
local cid = ARGV[3]
local old = entry(cid)
if not old then return {} end
remove(cid, old[2])
return {others(old[2], cid), old, {}}
