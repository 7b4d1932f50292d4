-- Sets a connection's status (and metadata) in a room. KEYS, ARGV 1-2 and the answer: see
-- lib/presence.lua. ARGV: 3 connectionId, 4 status, 5 metadata JSON or '' (keep), 6 now (ms).
-- Returns {} when the connection has no entry.
-- include: lib/presence.lua
local cid, now = ARGV[3], ARGV[6]
local old = entry(cid)
if not old then return {} end
redis.call('HSET', C, 's:' .. cid, ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', C, 'm:' .. cid, ARGV[5], 'ma:' .. cid, now) end
redis.call('ZADD', T, now, cid)
keep(old[2])
return {others(old[2], cid), old, entry(cid)}
