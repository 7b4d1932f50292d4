-- Takes or renews a lease for its owner (ARGV 2 > 0), or gives it back (ARGV 2 = 0).
-- KEYS[1] the lease key. ARGV: 1 owner, 2 time to live (ms). Returns 1 when the owner holds it.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) == 0 then
  if holder then redis.call('DEL', KEYS[1]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
