-- stream-append.lua after taking rate-limit buckets in the same step: only on a single Redis, where one
-- script may touch the room's keys and the tenant's buckets (different slots on a Cluster).
--
-- KEYS: 1-3 as stream-append.lua, then the buckets.
-- ARGV: 1-11 as stream-append.lua, then rate, burst and cost of each bucket in turn.
-- Returns {2, retryAfterMs, refusedBy} when a bucket is short (nothing is appended, published or
-- taken), otherwise as stream-append.lua.
-- include: lib/int.lua
-- include: lib/clock.lua
-- include: lib/prune.lua
-- include: lib/consume.lua
-- include: lib/append.lua
-- One reading of Redis's clock for the buckets and the append.
local nowMs, micros = now()
local verdict = consume(4, 12, micros)
if verdict[1] == 0 then return {2, verdict[2], verdict[3]} end
return append(nowMs, micros)
