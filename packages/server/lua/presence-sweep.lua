-- Removes a room's entries touched at or before the cutoff. Atomic, so when several instances sweep
-- the same room only the first one removes (and announces) an entry.
-- KEYS and ARGV 1-2: see lib/presence.lua. ARGV: 3 cutoff (ms).
-- Returns {groups, earliest remaining touch or '', removed connection ids}, a group being
-- {userId, removed entries, remaining entries of the user}.
-- include: lib/presence.lua
local byUser, users, removedIds = {}, {}, {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', T, '-inf', ARGV[3])) do
  local e = entry(cid)
  if e then
    remove(cid, e[2])
    if not byUser[e[2]] then
      byUser[e[2]] = {}
      users[#users + 1] = e[2]
    end
    local list = byUser[e[2]]
    list[#list + 1] = e
  else
    redis.call('ZREM', T, cid)
  end
  removedIds[#removedIds + 1] = cid
end
local groups = {}
for _, userId in ipairs(users) do groups[#groups + 1] = {userId, byUser[userId], others(userId, '')} end
local head = redis.call('ZRANGE', T, 0, 0, 'WITHSCORES')
return {groups, head[2] or '', removedIds}
