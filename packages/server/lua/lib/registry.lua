-- The connection registry of one user (see ConnectionRegistry in src/engine/types.ts):
-- Z, a sorted set of the user's connection ids scored by their last refresh (ms), and
-- H, a hash of connection id -> record JSON; both carry the user's hash tag. A script on one user
-- passes them as KEYS[1] and KEYS[2]; registry-touch-many.lua passes several users' pairs.
-- ARGV[1] now (ms), ARGV[2] staleMs: a record refreshed before now - staleMs no longer counts.
-- A script on several connections each with its own clock moves it with at(now) before each one.
local NOW_ARG, STALE = ARGV[1], tonumber(ARGV[2])
local NOW = tonumber(NOW_ARG)
local CUTOFF = '(' .. string.format('%d', NOW - STALE)
local function at(now)
  NOW_ARG, NOW = now, tonumber(now)
  CUTOFF = '(' .. string.format('%d', NOW - STALE)
end
-- Drops the records of connections whose instance stopped refreshing them; returns how many.
local function prune(Z, H)
  local gone = redis.call('ZRANGEBYSCORE', Z, '-inf', CUTOFF)
  if #gone == 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', Z, '-inf', CUTOFF)
  for _, cid in ipairs(gone) do redis.call('HDEL', H, cid) end
  return #gone
end
local function put(Z, H, cid, record)
  redis.call('ZADD', Z, NOW_ARG, cid)
  redis.call('HSET', H, cid, record)
end
-- The keys outlive their last write by twice the stale time: a user whose instances all died leaves nothing.
local function keep(Z, H)
  redis.call('PEXPIRE', Z, 2 * STALE)
  redis.call('PEXPIRE', H, 2 * STALE)
end
