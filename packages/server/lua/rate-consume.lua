-- Takes rate-limit buckets together, or none (see lib/consume.lua).
-- KEYS: the buckets. ARGV: rate, burst and cost of each bucket in turn.
-- Returns {allowed 1|0, retryAfterMs, refusedBy}.
-- include: lib/consume.lua
return consume(1, 1)
