-- A connection enters a room (or joins it again with new metadata).
-- KEYS, ARGV 1-2 and the answer: see lib/presence.lua, plus a fourth element: the room's entries
-- before this one was written (0: the join occupies the room).
-- ARGV: 3 connectionId, 4 userId, 5 status, 6 serverId, 7 now (ms), 8 metadata JSON or ''
-- include: lib/presence.lua
local cid, userId, now = ARGV[3], ARGV[4], ARGV[7]
local before = redis.call('ZCARD', T)
local old = entry(cid)
if old and old[2] ~= userId then
  redis.call('SREM', UPFX .. old[2], cid)
  old = nil
end
local oth = others(userId, cid)
redis.call('HSET', C, 'u:' .. cid, userId, 's:' .. cid, ARGV[5], 'sv:' .. cid, ARGV[6], 'ma:' .. cid, now)
if ARGV[8] ~= '' then redis.call('HSET', C, 'm:' .. cid, ARGV[8]) else redis.call('HDEL', C, 'm:' .. cid) end
redis.call('ZADD', T, now, cid)
redis.call('SADD', UPFX .. userId, cid)
keep(userId)
return {oth, old or {}, entry(cid), before}
