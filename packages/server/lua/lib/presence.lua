-- Presence of one room lives in three kinds of keys sharing the room's hash tag:
-- KEYS[1] a hash with, per connection id `c`, fields `u:c` (user), `s:c` (status), `sv:c` (server),
--   `ma:c` (when metadata was set), `m:c` (metadata JSON);
-- KEYS[2] a sorted set of connection ids scored by last touch (ms);
-- per user, a set of that user's connection ids (ARGV[1] .. userId), so a change looks at the user's
--   entries only, not the whole room. It is built here from the room's own prefix: the same slot as
--   KEYS, which Redis Cluster allows.
-- ARGV[2] is how long the room's keys live without writes (ms).
-- Scripts return entries as {connectionId, userId, status, metadataAt, metadata JSON or '', lastSeen}
-- and changes as {others, old, new}: the user's other entries, the connection's entry before and after
-- (empty when absent); the aggregation happens in Node.
local C, T, UPFX, IDLE = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local function entry(cid)
  local v = redis.call('HMGET', C, 'u:' .. cid, 's:' .. cid, 'ma:' .. cid, 'm:' .. cid)
  if not v[1] then return nil end
  local seen = redis.call('ZSCORE', T, cid)
  return {cid, v[1], v[2], v[3], v[4] or '', seen or '0'}
end
local function others(userId, except)
  local out = {}
  for _, cid in ipairs(redis.call('SMEMBERS', UPFX .. userId)) do
    if cid ~= except then
      local e = entry(cid)
      if e then out[#out + 1] = e end
    end
  end
  return out
end
local function remove(cid, userId)
  redis.call('HDEL', C, 'u:' .. cid, 's:' .. cid, 'sv:' .. cid, 'ma:' .. cid, 'm:' .. cid)
  redis.call('ZREM', T, cid)
  redis.call('SREM', UPFX .. userId, cid)
end
local function keep(userId)
  redis.call('PEXPIRE', C, IDLE)
  redis.call('PEXPIRE', T, IDLE)
  redis.call('PEXPIRE', UPFX .. userId, IDLE)
end
