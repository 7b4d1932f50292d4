-- Takes a member's place in a counter (connections per user): members in a sorted set scored by their
-- last touch. A member whose instance died without releasing it stops being touched and, after
-- staleMs, is removed by the next acquire instead of counting.
-- KEYS: 1 set. ARGV: 1 member, 2 max (0 = no limit), 3 now (ms), 4 staleMs.
-- Returns 1 when held, 0 when refused.
local member, max, now, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now - stale))
if redis.call('ZSCORE', KEYS[1], member) == false then
  if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[3], member)
redis.call('PEXPIRE', KEYS[1], 2 * stale)
return 1
