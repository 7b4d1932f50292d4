/**
 * Presence of one room lives in three kinds of keys sharing the room's hash tag:
 * - KEYS[1] a hash with, per connection id `c`, fields `u:c` (user), `s:c`
 *   (status), `sv:c` (server), `ma:c` (when metadata was set), `m:c` (metadata JSON);
 * - KEYS[2] a sorted set of connection ids scored by last touch (ms);
 * - per user, a set of that user's connection ids (ARGV[1] .. userId), so a
 *   change looks at the user's entries only, not the whole room.
 * The per-user key is built in the script from the room's own prefix: it is in
 * the same slot as KEYS, which Redis Cluster allows.
 *
 * Scripts return entries as {connectionId, userId, status, metadataAt,
 * metadata JSON or '', lastSeen} and the aggregation happens in Node
 * (presence-aggregate.ts), from `{others, old, new}`: the user's other entries,
 * the connection's entry before and after (empty when absent).
 * ARGV[2] is how long the room's keys live without writes (ms).
 */
const PRELUDE = `
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
`;

/** ARGV: 3 connectionId, 4 userId, 5 status, 6 serverId, 7 now, 8 metadata JSON or '' */
export const JOIN_LUA = `${PRELUDE}
local cid, userId, now = ARGV[3], ARGV[4], ARGV[7]
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
return {oth, old or {}, entry(cid)}
`;

/** ARGV: 3 connectionId */
export const LEAVE_LUA = `${PRELUDE}
local cid = ARGV[3]
local old = entry(cid)
if not old then return {} end
remove(cid, old[2])
return {others(old[2], cid), old, {}}
`;

/** ARGV: 3 connectionId, 4 status, 5 metadata JSON or '' (keep), 6 now */
export const SET_STATUS_LUA = `${PRELUDE}
local cid, now = ARGV[3], ARGV[6]
local old = entry(cid)
if not old then return {} end
redis.call('HSET', C, 's:' .. cid, ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', C, 'm:' .. cid, ARGV[5], 'ma:' .. cid, now) end
redis.call('ZADD', T, now, cid)
keep(old[2])
return {others(old[2], cid), old, entry(cid)}
`;

/** ARGV: 3 connectionId, 4 now. Returns 1 when the connection has an entry in the room. */
export const TOUCH_LUA = `${PRELUDE}
local cid = ARGV[3]
local userId = redis.call('HGET', C, 'u:' .. cid)
if not userId then return 0 end
redis.call('ZADD', T, ARGV[4], cid)
keep(userId)
return 1
`;

/** ARGV: 3 cutoff (entries touched at or before it are live no more). Returns live entries. */
export const LIST_LUA = `${PRELUDE}
local out = {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', T, '(' .. ARGV[3], '+inf')) do
  local e = entry(cid)
  if e then out[#out + 1] = e end
end
return out
`;

/**
 * Removes the entries touched at or before the cutoff. Atomic, so when
 * several instances sweep the same room only the first one removes (and
 * announces) an entry.
 * ARGV: 3 cutoff. Returns {groups, earliest remaining touch or '', removed ids}
 * where a group is {userId, removed entries, remaining entries of the user}.
 */
export const SWEEP_LUA = `${PRELUDE}
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
`;
