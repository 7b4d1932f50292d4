-- Refreshes a member still held, and its set's expiry; a released member stays released.
-- KEYS: 1 set. ARGV: 1 member, 2 now (ms), 3 ttlMs. Returns 1 when refreshed, 0 when not held.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
