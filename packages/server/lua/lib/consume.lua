-- consume(firstKey, firstArg, nowUs): token buckets, refilled and taken in one step: from every bucket
-- when each has enough tokens, otherwise from none. Takes the buckets KEYS[firstKey..#KEYS], with rate
-- (tokens/s), burst and cost of each bucket in turn from ARGV[firstArg]. Time is Redis's (TIME, or the
-- caller's reading of it in nowUs, microseconds), so instances with skewed clocks share a bucket
-- fairly. A bucket is a string `<micro-tokens>|<atUs>`, two integers (printed with %d and read back
-- without glibc's multi-precision float conversions, which fractional values cost), written with its
-- expiry in one SET ... PX (a hash took HMGET, HSET and PEXPIRE): the key expires once its bucket
-- would be full again, and a missing bucket is a full one. A refusal writes nothing.
-- Returns {allowed 1|0, retryAfterMs (the longest wait), refusedBy (1-based index of the first short
-- bucket, 0 when allowed)}.
local function consume(firstKey, firstArg, nowUs)
  if not nowUs then
    local t = redis.call('TIME')
    nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  local tokens, caps = {}, {}
  local allowed, retry, by = 1, 0, 0
  local n = #KEYS - firstKey + 1
  for i = 1, n do
    local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
    local rate, burst, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local capacity = math.max(burst, cost)
    local state = redis.call('GET', key)
    local tk = capacity
    if state then
      local bar = string.find(state, '|', 1, true)
      tk = math.min(capacity, tonumber(string.sub(state, 1, bar - 1)) / 1000000 + math.max(0, nowUs - tonumber(string.sub(state, bar + 1))) * rate / 1000000)
    end
    tokens[i], caps[i] = tk, capacity
    if tk < cost then
      if allowed == 1 then by = i end
      allowed = 0
      retry = math.max(retry, math.ceil((cost - tk) * 1000 / rate))
    end
  end
  if allowed == 1 then
    local at = string.format('|%d', nowUs)
    for i = 1, n do
      local key, a = KEYS[firstKey + i - 1], firstArg + 3 * (i - 1)
      local rate, cost = tonumber(ARGV[a]), tonumber(ARGV[a + 2])
      local tk = tokens[i] - cost
      redis.call('SET', key, string.format('%d', math.floor(tk * 1000000)) .. at, 'PX', string.format('%d', math.ceil((caps[i] - tk) * 1000 / rate) + 1000))
    end
  end
  return {allowed, retry, by}
end
