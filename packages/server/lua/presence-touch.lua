-- Keeps a connection's entry in a room alive. KEYS and ARGV 1-2: see lib/presence.lua.
-- ARGV: 3 connectionId, 4 now (ms). Returns 1 when the connection has an entry in the room, else 0.
-- include: lib/presence.lua
local cid = ARGV[3]
local userId = redis.call('HGET', C, 'u:' .. cid)
if not userId then return 0 end
redis.call('ZADD', T, ARGV[4], cid)
keep(userId)
return 1
