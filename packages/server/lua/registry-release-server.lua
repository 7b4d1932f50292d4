-- Removes a user's records owned by one instance (an instance that died), in one step, so that of
-- concurrent calls only the one that removed records reports the user's last connection gone.
-- KEYS and ARGV 1-2: see lib/registry.lua. ARGV: 3 serverId.
-- Returns {removed, last 1|0}.
-- include: lib/registry.lua
local Z, H = KEYS[1], KEYS[2]
local removed = 0
local flat = redis.call('HGETALL', H)
for i = 1, #flat, 2 do
  local ok, record = pcall(cjson.decode, flat[i + 1])
  if ok and type(record) == 'table' and record.serverId == ARGV[3] then
    redis.call('ZREM', Z, flat[i])
    redis.call('HDEL', H, flat[i])
    removed = removed + 1
  end
end
if removed == 0 then return {0, 0} end
prune(Z, H)
if redis.call('ZCARD', Z) == 0 then return {removed, 1} end
return {removed, 0}
