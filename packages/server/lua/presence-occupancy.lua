-- Who is in a room now. KEYS and ARGV 1-2: see lib/presence.lua (ARGV 1-2 unused).
-- ARGV: 3 cutoff (ms): entries refreshed at or before it are live no more.
-- Returns {userId, status, ...}, one pair per live connection.
local out = {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[3], '+inf')) do
  local v = redis.call('HMGET', KEYS[1], 'u:' .. cid, 's:' .. cid)
  if v[1] then
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
  end
end
return out
