-- Records a revocation of one user's tokens: those issued before ARGV[1] are refused until the key
-- expires at ARGV[2]. A later revocation covers every token an earlier one did, so the latest time
-- is kept (with its later expiry); an earlier one changes nothing.
-- KEYS: 1 the user's revocation key. ARGV: 1 before (ms), 2 until (ms, the key's expiry).
-- Returns the time in force (ms).
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local before = tonumber(ARGV[1])
if current >= before then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return before
