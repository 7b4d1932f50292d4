-- registry-touch.lua for several users in one call, on a single Redis only (different users' keys
-- are in different Cluster slots): one script call per batch of connections instead of one per user.
-- KEYS: the users' (sorted set, hash) pairs, see lib/registry.lua. ARGV: 1 now, 2 staleMs, then for
-- each user in KEYS order the number n of its connections and n pairs of connectionId and record JSON.
-- include: lib/registry.lua
local a = 3
for k = 1, #KEYS, 2 do
  local Z, H = KEYS[k], KEYS[k + 1]
  prune(Z, H)
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    put(Z, H, ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  keep(Z, H)
end
return 0
