-- Makes a room's entries what the instances owning the connections say they are: a missing entry is
-- created, a differing one (user, status, server, metadata) overwritten, an equal one only refreshed.
-- Run by each instance every maintenance round for its own connections, so entries a Redis lost come
-- back within a round.
-- KEYS and ARGV 1-2: see lib/presence.lua. ARGV: 3 now (ms), then 5 values per entry: connectionId,
-- userId, status, serverId, metadata JSON or ''.
-- Returns the users whose entries were written, each {userId, their entries before, after}.
-- include: lib/presence.lua
local now = ARGV[3]
local groups, noted, users = {}, {}, {}
local function note(userId)
  if noted[userId] then return end
  noted[userId] = true
  groups[#groups + 1] = {userId, others(userId, '')}
end
for i = 4, #ARGV, 5 do
  local cid, userId, status, server, meta = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local v = redis.call('HMGET', C, 'u:' .. cid, 's:' .. cid, 'sv:' .. cid, 'm:' .. cid)
  local oldMeta = v[4] or ''
  if not (v[1] == userId and v[2] == status and v[3] == server and oldMeta == meta) then
    if v[1] then note(v[1]) end
    note(userId)
    if v[1] and v[1] ~= userId then redis.call('SREM', UPFX .. v[1], cid) end
    redis.call('HSET', C, 'u:' .. cid, userId, 's:' .. cid, status, 'sv:' .. cid, server)
    if v[1] ~= userId or oldMeta ~= meta then redis.call('HSET', C, 'ma:' .. cid, now) end
    if meta ~= '' then redis.call('HSET', C, 'm:' .. cid, meta) else redis.call('HDEL', C, 'm:' .. cid) end
  end
  redis.call('ZADD', T, now, cid)
  redis.call('SADD', UPFX .. userId, cid)
  users[userId] = true
end
redis.call('PEXPIRE', C, IDLE)
redis.call('PEXPIRE', T, IDLE)
for userId in pairs(users) do redis.call('PEXPIRE', UPFX .. userId, IDLE) end
for _, g in ipairs(groups) do g[3] = others(g[1], '') end
return groups
