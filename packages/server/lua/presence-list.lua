-- The live entries of a room. KEYS and ARGV 1-2: see lib/presence.lua.
-- ARGV: 3 cutoff (ms): entries touched at or before it are live no more. Returns the entries.
-- include: lib/presence.lua
local out = {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', T, '(' .. ARGV[3], '+inf')) do
  local e = entry(cid)
  if e then out[#out + 1] = e end
end
return out
