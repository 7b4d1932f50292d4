-- consume(firstKey, firstArg): token buckets in hashes {tokens, at}, refilled and taken in one step:
-- from every bucket when each has enough tokens, otherwise from none. Takes the buckets
-- KEYS[firstKey..#KEYS], with rate (tokens/s), burst and cost of each bucket in turn from
-- ARGV[firstArg]. Time is Redis's (TIME), so instances with skewed clocks share a bucket fairly. A key
-- expires once its bucket would be full again: a missing bucket is a full one. A refusal writes nothing.
-- Returns {allowed 1|0, retryAfterMs (the longest wait), refusedBy (1-based index of the first short
-- bucket, 0 when allowed)}.
local function consume(firstKey, firstArg)
  local t = redis.call('TIME')
  local nowMs = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  local tokens, caps = {}, {}
  local allowed, retry, by = 1, 0, 0
  local n = #KEYS - firstKey + 1
  for i = 1, n do
    local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
    local rate, burst, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local capacity = math.max(burst, cost)
    local state = redis.call('HMGET', key, 'tokens', 'at')
    local tk = tonumber(state[1])
    if tk == nil then
      tk = capacity
    else
      tk = math.min(capacity, tk + math.max(0, nowMs - tonumber(state[2])) * rate / 1000)
    end
    tokens[i], caps[i] = tk, capacity
    if tk < cost then
      if allowed == 1 then by = i end
      allowed = 0
      retry = math.max(retry, math.ceil((cost - tk) * 1000 / rate))
    end
  end
  if allowed == 1 then
    for i = 1, n do
      local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
      local rate, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 2])
      local tk = tokens[i] - cost
      redis.call('HSET', key, 'tokens', string.format('%.6f', tk), 'at', string.format('%.3f', nowMs))
      redis.call('PEXPIRE', key, string.format('%d', math.ceil((caps[i] - tk) * 1000 / rate) + 1000))
    end
  end
  return {allowed, retry, by}
end
